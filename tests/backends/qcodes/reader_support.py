"""Support for the QCoDeS reader tests: databases written by real QCoDeS, QCoDeS' own
export as the reference, and comparisons.

QCoDeS is a test dependency only; the reader under test never imports it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

REPO = Path(__file__).resolve().parents[3]
CORPUS = (REPO / ".." / "shared" / "corpus").resolve()
QCODES_CORPUS = CORPUS / "qcodes"
CORPUS_MISSING = "shared corpus not found at ../shared/corpus"
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
#: the runs of :func:`build_reference_db`
RUN_KINDS = [
    "sweep_1d",
    "grid_shapes",
    "grid_shapes_single",
    "grid_noshape",
    "grid_partial",
    "scatter",
    "repeats",
    "array",
    "array_shapes",
    "complex_text",
    "mixed",
    "derived_axis",
    "special_values",
    "no_data",
    "incomplete",
]


def corpus_databases() -> list[Path]:
    """Every SQLite file of the QCoDeS corpus (empty when the corpus is absent)."""
    if not QCODES_CORPUS.is_dir():
        return []
    return sorted(
        p for p in QCODES_CORPUS.rglob("*") if p.suffix in (".db", ".sqlite") and p.is_file()
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def side_files(path: Path) -> list[Path]:
    return [p for s in SIDE_SUFFIXES if (p := path.with_name(path.name + s)).exists()]


def copy_db(src: Path, dst_dir: Path) -> Path:
    """Copy a database (and its -wal, if any) to ``dst_dir`` for QCoDeS to upgrade."""
    dst = dst_dir / src.name
    shutil.copyfile(src, dst)
    for suffix in ("-wal",):
        side = src.with_name(src.name + suffix)
        if side.exists():
            shutil.copyfile(side, dst.with_name(dst.name + suffix))
    return dst


# -- QCoDeS as the reference ---------------------------------------------------------


def qcodes_connect(path: Path, *, fix_4a: bool = False) -> Any:
    """A QCoDeS connection to ``path`` (QCoDeS upgrades the file in place: use a copy).

    v0 databases only upgrade with ``GUID_type = explicit_sample``; "version 4a" files
    need QCoDeS' fix function first.
    """
    import qcodes
    from qcodes.dataset.sqlite.database import connect

    qcodes.config["GUID_components"]["GUID_type"] = "explicit_sample"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fix_4a:
            from qcodes.dataset.database_fix_functions import (
                fix_version_4a_run_description_bug,
            )

            conn = connect(str(path), version=4)
            fix_version_4a_run_description_bug(conn)
            conn.close()
        return connect(str(path))


def qcodes_export(path: Path, run_id: int, conn: Any | None = None) -> xr.Dataset:
    """``load_by_id(run_id).to_xarray_dataset()`` by QCoDeS itself."""
    from qcodes.dataset import load_by_id

    own = conn is None
    conn = conn if conn is not None else qcodes_connect(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load_by_id(run_id, conn=conn).to_xarray_dataset()
    finally:
        if own:
            conn.close()


# -- comparisons --------------------------------------------------------------------


def normalized_description(text: str) -> dict[str, Any]:
    """A run_description with the orders QCoDeS leaves to string hashing made canonical
    (the standalones come from a frozenset in QCoDeS, so their order varies per process)."""
    desc = json.loads(text)
    desc["interdependencies"]["paramspecs"] = sorted(
        desc["interdependencies"]["paramspecs"], key=lambda p: p["name"]
    )
    new = desc["interdependencies_"]
    new["standalones"] = sorted(new["standalones"])
    new["parameters"] = dict(sorted(new["parameters"].items()))
    return desc


def _check_description(ours: xr.Dataset, theirs: xr.Dataset) -> None:
    a, b = ours.attrs.get("run_description"), theirs.attrs.get("run_description")
    if a == b:
        return
    # Only the order of several standalone parameters may differ (hash order in QCoDeS).
    assert len(json.loads(b)["interdependencies_"]["standalones"]) > 1, (a, b)
    assert normalized_description(a) == normalized_description(b)


def _without_description(ds: xr.Dataset) -> xr.Dataset:
    out = ds.copy()
    out.attrs = {k: v for k, v in ds.attrs.items() if k != "run_description"}
    return out


def assert_identical_to_qcodes(ours: xr.Dataset, theirs: xr.Dataset) -> None:
    """Identical datasets: variables, coordinates, dims, dtypes, values, all attributes
    (the run description up to the order of standalone parameters)."""
    _check_description(ours, theirs)
    xr.testing.assert_identical(_without_description(ours), _without_description(theirs))
    assert list(ours.variables) == list(theirs.variables)


def assert_close_to_qcodes(ours: xr.Dataset, theirs: xr.Dataset) -> None:
    """As :func:`assert_identical_to_qcodes`, but float values only to 1e-14 relative
    (and in any variable order).

    QCoDeS reads numeric values through SQLite's 15-significant-digit text rendering; we
    read the stored doubles. For arbitrary doubles (real data) the two differ in the
    16th-17th digit; everything else must be identical.
    """
    _check_description(ours, theirs)
    # variable order is not compared: a NetCDF round trip reorders variables
    assert set(ours.variables) == set(theirs.variables)
    assert _without_description(ours).attrs == _without_description(theirs).attrs
    for name, theirs_var in theirs.variables.items():
        ours_var = ours.variables[name]
        assert ours_var.dims == theirs_var.dims, name
        assert ours_var.dtype == theirs_var.dtype, name
        assert ours_var.attrs == theirs_var.attrs, name
        assert ours_var.shape == theirs_var.shape, name
        if name == "multi_index":  # tuples of the level values, compared via the levels
            continue
        if ours_var.dtype.kind in "fc":
            np.testing.assert_allclose(
                ours_var.values, theirs_var.values, rtol=1e-14, atol=0, equal_nan=True
            )
        else:
            np.testing.assert_array_equal(ours_var.values, theirs_var.values)


def round_like_sqlite_text(values: np.ndarray) -> np.ndarray:
    """Round doubles to 15 significant digits, the way QCoDeS sees them through SQLite."""
    return np.vectorize(lambda v: float(f"{v:.15g}"), otypes=[float])(values)


# -- a database with one run of every kind, written by QCoDeS -----------------------


def _exact(values: Any) -> np.ndarray:
    """Values that survive SQLite's 15-digit text rendering unchanged (so QCoDeS' export
    and ours can be compared with assert_identical)."""
    return np.round(np.asarray(values, dtype=float), 6)


def build_reference_db(path: Path, journal_mode: str = "WAL") -> dict[str, int]:
    """Write one run of each kind the reader must handle; returns name -> run id."""
    from qcodes.dataset import (
        Measurement,
        initialise_or_create_database_at,
        load_or_create_experiment,
    )
    from qcodes.parameters import ManualParameter, Parameter, ParameterWithSetpoints
    from qcodes.validators import Arrays

    initialise_or_create_database_at(path, journal_mode=journal_mode)
    exp = load_or_create_experiment("reader tests", sample_name="chip A")
    x = ManualParameter("x", unit="V", label="Gate x")
    y = ManualParameter("y", unit="V", label="Gate y")
    z = ManualParameter("z", unit="A", label="Current")
    w = ManualParameter("w", unit="Ohm", label="Resistance")
    runs: dict[str, int] = {}
    rng = np.random.default_rng(1234)

    def measurement(name: str) -> Any:
        return Measurement(exp=exp, name=name)

    # 1D sweep, two dependents on the same setpoints, plus metadata
    m = measurement("sweep 1d")
    m.register_parameter(x)
    m.register_parameter(z, setpoints=(x,))
    m.register_parameter(w, setpoints=(x,))
    with m.run() as ds:
        for xv in _exact(np.linspace(-1, 1, 21)):
            ds.add_result((x, xv), (z, _exact(np.sin(3 * xv))), (w, _exact(xv**2 + 1)))
        ds.dataset.add_metadata("inspectr_tag", "star")
    runs["sweep_1d"] = ds.run_id

    # 2D grid with set_shapes (the doNd case), two dependents -> interleaved rows
    m = measurement("grid with shapes")
    for p in (x, y):
        m.register_parameter(p)
    m.register_parameter(z, setpoints=(x, y))
    m.register_parameter(w, setpoints=(x, y))
    m.set_shapes({"z": (4, 5), "w": (4, 5)})
    with m.run() as ds:
        for xv in _exact(np.linspace(0, 1, 4)):
            for yv in _exact(np.linspace(-2, 2, 5)):
                ds.add_result((x, xv), (y, yv), (z, _exact(xv * yv)), (w, _exact(xv - yv)))
    runs["grid_shapes"] = ds.run_id

    # 2D grid with set_shapes, one dependent -> one contiguous block of rows
    m = measurement("grid with shapes, single")
    for p in (x, y):
        m.register_parameter(p)
    m.register_parameter(z, setpoints=(x, y))
    m.set_shapes({"z": (3, 6)})
    with m.run() as ds:
        for xv in _exact([0.5, 0.25, 0.125]):
            ds.add_result(
                (x, np.full(6, xv)), (y, _exact(np.arange(6) * 0.1)), (z, _exact(np.arange(6) * xv))
            )
    runs["grid_shapes_single"] = ds.run_id

    # 2D grid without shapes, descending outer axis (pandas sorts the grid)
    m = measurement("grid no shapes")
    for p in (x, y):
        m.register_parameter(p)
    m.register_parameter(z, setpoints=(x, y))
    with m.run() as ds:
        for xv in _exact([3.0, 2.0, 1.0]):
            for yv in _exact([0.5, -0.5, 0.0, 1.5]):
                ds.add_result((x, xv), (y, yv), (z, _exact(10 * xv + yv)))
    runs["grid_noshape"] = ds.run_id

    # incomplete grid with shapes (stopped early): NaN-filled grid
    m = measurement("grid partial")
    for p in (x, y):
        m.register_parameter(p)
    m.register_parameter(z, setpoints=(x, y))
    m.set_shapes({"z": (3, 3)})
    with m.run() as ds:
        for i in range(7):
            ds.add_result((x, i // 3), (y, i % 3), (z, i * 0.5))
    runs["grid_partial"] = ds.run_id

    # non-grid: setpoints in random order -> multi_index
    m = measurement("scatter")
    for p in (x, y):
        m.register_parameter(p)
    m.register_parameter(z, setpoints=(x, y))
    with m.run() as ds:
        for _ in range(15):
            ds.add_result(
                (x, _exact(rng.random())), (y, _exact(rng.random())), (z, _exact(rng.normal()))
            )
    runs["scatter"] = ds.run_id

    # repeated setpoints (non-unique index) -> flat 'index' dimension
    m = measurement("repeats")
    m.register_parameter(x)
    m.register_parameter(z, setpoints=(x,))
    with m.run() as ds:
        for xv in _exact([0.0, 0.5, 0.0, 0.5, 1.0]):
            ds.add_result((x, xv), (z, _exact(rng.normal())))
    runs["repeats"] = ds.run_id

    # array-valued parameter (paramtype 'array') with its own setpoints, on an outer sweep
    freq = Parameter(
        "freq",
        unit="Hz",
        label="Frequency",
        get_cmd=lambda: _exact(np.linspace(1e6, 2e6, 8)),
        vals=Arrays(shape=(8,)),
    )
    spectrum = ParameterWithSetpoints(
        "spectrum",
        unit="dBm",
        get_cmd=lambda: _exact(rng.normal(size=8)),
        vals=Arrays(shape=(8,)),
        setpoints=(freq,),
    )
    m = measurement("spectra")
    m.register_parameter(x)
    m.register_parameter(spectrum, setpoints=(x,), paramtype="array")
    with m.run() as ds:
        for xv in _exact(np.linspace(0, 0.3, 4)):
            ds.add_result((x, xv), (spectrum, spectrum()), (freq, freq()))
    runs["array"] = ds.run_id

    # the same with shapes (doNd with an array parameter): the direct path on array data
    m = measurement("spectra with shapes")
    m.register_parameter(x)
    m.register_parameter(spectrum, setpoints=(x,), paramtype="array")
    m.set_shapes({"spectrum": (3, 8)})
    with m.run() as ds:
        for xv in _exact([1.0, 2.0, 3.0]):
            ds.add_result((x, xv), (spectrum, spectrum()), (freq, freq()))
    runs["array_shapes"] = ds.run_id

    # complex and text parameters
    c = ManualParameter("c", unit="V", label="IQ")
    t = ManualParameter("state", label="State")
    m = measurement("complex and text")
    m.register_parameter(x)
    m.register_parameter(c, setpoints=(x,), paramtype="complex")
    m.register_parameter(t, setpoints=(x,), paramtype="text")
    with m.run() as ds:
        for i, xv in enumerate(_exact(np.linspace(0, 1, 6))):
            ds.add_result((x, xv), (c, complex(xv, -i * 0.5)), (t, ["off", "on", "unknown"][i % 3]))
    runs["complex_text"] = ds.run_id

    # dependents on different setpoints, an inferred parameter, a standalone parameter
    a = ManualParameter("a", unit="A")
    b = ManualParameter("b", unit="B")
    a_sq = ManualParameter("a_sq", unit="A^2", label="a squared")
    s = ManualParameter("temperature", unit="K")
    m = measurement("mixed trees")
    for p in (x, y):
        m.register_parameter(p)
    m.register_parameter(a, setpoints=(x,))
    m.register_parameter(b, setpoints=(y,))
    m.register_parameter(a_sq, basis=(a,))
    m.register_parameter(s)
    with m.run() as ds:
        for i in range(4):
            ds.add_result((x, i * 0.25), (a, i * 2.0), (a_sq, (i * 2.0) ** 2))
        for i in range(3):
            ds.add_result((y, i * 0.5), (b, -i * 1.0))
        ds.add_result((s, 0.015))
    runs["mixed"] = ds.run_id

    # a setpoint-derived coordinate (inferred from a setpoint) on a shaped grid
    x_mv = ManualParameter("x_mv", unit="mV", label="Gate x in mV")
    m = measurement("grid with derived axis")
    for p in (x, y):
        m.register_parameter(p)
    m.register_parameter(x_mv, basis=(x,))
    m.register_parameter(z, setpoints=(x, y))
    m.set_shapes({"z": (2, 3)})
    with m.run() as ds:
        for xv in (0.5, 1.0):
            for yv in (0.0, 1.0, 2.0):
                ds.add_result((x, xv), (x_mv, xv * 1000), (y, yv), (z, xv + yv))
    runs["derived_axis"] = ds.run_id

    # NaN, infinity and integers stored in numeric columns
    m = measurement("special values")
    m.register_parameter(x)
    m.register_parameter(z, setpoints=(x,))
    with m.run() as ds:
        for xv, zv in ((1, float("nan")), (2, float("inf")), (3, 7), (4, -0.5)):
            ds.add_result((x, xv), (z, zv))
    runs["special_values"] = ds.run_id

    # a run with parameters but no data
    m = measurement("no data")
    m.register_parameter(x)
    m.register_parameter(z, setpoints=(x,))
    with m.run() as ds:
        pass
    runs["no_data"] = ds.run_id

    # an incomplete run: rows written, never marked completed (acquisition crashed)
    m = measurement("crashed")
    m.register_parameter(x)
    m.register_parameter(z, setpoints=(x,))
    runner = m.run()
    saver = runner.__enter__()
    for i in range(5):
        saver.add_result((x, i), (z, i * 1.5))
    saver.flush_data_to_database()
    runs["incomplete"] = saver.run_id
    saver.dataset.conn.close()
    return runs


def build_disagreeing_trees(path: Path) -> int:
    """One run whose two trees hold an inferred parameter ``z`` (inferred from the shared
    setpoint ``x``) with different values: QCoDeS' merge of the trees fails on it, the
    reader keeps the first tree's values and warns. Returns the run id."""
    from qcodes.dataset import (
        Measurement,
        initialise_or_create_database_at,
        load_or_create_experiment,
    )
    from qcodes.parameters import ManualParameter

    initialise_or_create_database_at(path)
    exp = load_or_create_experiment("trees", sample_name="chip B")
    x, z = ManualParameter("x", unit="V"), ManualParameter("z", unit="V")
    y1, y2 = ManualParameter("y1", unit="A"), ManualParameter("y2", unit="A")
    meas = Measurement(exp=exp, name="two trees\nsharing an inferred parameter")
    meas.register_parameter(x)
    meas.register_parameter(z, basis=(x,))
    meas.register_parameter(y1, setpoints=(x,))
    meas.register_parameter(y2, setpoints=(x,))
    with meas.run() as ds:
        for i in range(5):
            ds.add_result((x, i), (z, i * 10), (y1, i))
            ds.add_result((x, i), (z, i * 10 + 1), (y2, -i))
    return ds.run_id
