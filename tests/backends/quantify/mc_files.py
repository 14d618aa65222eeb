"""Write Quantify datadirs the way MeasurementControl does (no quantify needed).

MeasurementControl builds one dimension ``dim_0``: settables ``x0..`` hold the full
setpoint grid flattened (x0 fastest), gettables ``y0..`` are NaN until measured; the whole
file is rewritten in place with ``to_netcdf(engine="h5netcdf", invalid_netcdf=True)``.
Before quantify-core 0.3.2 the file was netCDF3 (``to_netcdf`` with scipy).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import xarray as xr


def make_tuid(when: datetime | None = None) -> str:
    when = when or datetime.now()
    millis = f"{when.microsecond // 1000:03d}"
    return when.strftime("%Y%m%d-%H%M%S-") + millis + "-" + uuid.uuid4().hex[:6]


def tuid_at(base: datetime, seconds: float) -> str:
    return make_tuid(base + timedelta(seconds=seconds))


def measurement_folder(datadir: Path, tuid: str, name: str = "", sep: str = "-") -> Path:
    folder = datadir / tuid[:8] / (tuid + (sep + name if name else ""))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def settable_attrs(name: str, long_name: str, units: str) -> dict:
    return {"name": name, "long_name": long_name, "units": units, "batched": np.False_}


def grid_dataset(
    tuid: str,
    name: str,
    xs: list[np.ndarray],
    n_gettables: int = 2,
    *,
    flag: bool | None = None,
    grid_key: str = "grid_2d",
    dtype: type = np.float64,
) -> xr.Dataset:
    """An empty (NaN) MC dataset over the outer product of ``xs`` (x0 fastest)."""
    mesh = np.meshgrid(*xs[::-1], indexing="ij")[::-1]
    flat = [m.reshape(-1) for m in mesh]
    return flat_dataset(tuid, name, flat, n_gettables, flag=flag, grid_key=grid_key, dtype=dtype)


def flat_dataset(
    tuid: str,
    name: str,
    flat_xs: list[np.ndarray],
    n_gettables: int = 2,
    *,
    flag: bool | None = None,
    grid_key: str = "grid_2d",
    dtype: type = np.float64,
) -> xr.Dataset:
    n = len(flat_xs[0])
    coords = {
        f"x{i}": ("dim_0", np.asarray(x), settable_attrs(f"set{i}", f"Setpoint {i}", "V"))
        for i, x in enumerate(flat_xs)
    }
    data = {
        f"y{j}": (
            "dim_0",
            np.full(n, np.nan, dtype=dtype),
            {
                "name": f"get{j}",
                "long_name": f"Signal {j}",
                "units": "A",
                "batched": np.False_,
            },
        )
        for j in range(n_gettables)
    }
    ds = xr.Dataset(data, coords=coords)
    ds.attrs = {"tuid": tuid, "name": name}
    if flag is not None:
        ds.attrs[grid_key] = np.bool_(flag)
        if flag and len(flat_xs) == 2:
            ds.attrs["xlen"] = np.int64(len(np.unique(flat_xs[0])))
            ds.attrs["ylen"] = np.int64(len(np.unique(flat_xs[1])))
    return ds


def fill(ds: xr.Dataset, upto: int | None = None, seed: int = 0) -> xr.Dataset:
    """Measured values for the first ``upto`` points (all by default)."""
    rng = np.random.default_rng(seed)
    n = ds.sizes["dim_0"]
    upto = n if upto is None else upto
    for name in ds.data_vars:
        if str(name).startswith("y"):
            values = ds[name].values
            if values.dtype.kind == "c":
                values[:upto] = rng.normal(size=upto) + 1j * rng.normal(size=upto)
            else:
                values[:upto] = rng.normal(size=upto)
    return ds


def write_mc(ds: xr.Dataset, path: Path) -> None:
    """MeasurementControl's write: the whole file, in place (truncating it)."""
    ds.to_netcdf(path, engine="h5netcdf", invalid_netcdf=True)


def write_nc3(ds: xr.Dataset, path: Path, settables_as_data: bool = False) -> None:
    """quantify-core < 0.3.2: netCDF3 (64-bit offset) named ``dataset.hdf5``; bool
    attributes become ints there (``2D-grid`` was an int 0/1)."""
    out = ds.reset_coords() if settables_as_data else ds.copy()
    out.attrs = {k: int(v) if isinstance(v, np.bool_ | bool) else v for k, v in ds.attrs.items()}
    for var in out.variables.values():
        var.attrs = {k: v for k, v in var.attrs.items() if k != "batched"}
    out.to_netcdf(path, engine="scipy", format="NETCDF3_64BIT")


def write_snapshot(folder: Path, sample: str | None = "chip-7", name: str = "snapshot.json"):
    snap = {
        "instruments": {
            "meas_ctrl": {"name": "meas_ctrl", "parameters": {}},
            "lockin": {"name": "lockin", "parameters": {"freq": {"value": 13.0}}},
        },
        "parameters": {},
    }
    if sample:
        snap["instruments"]["meas_ctrl"]["parameters"]["sample_name"] = {"value": sample}
    raw = json.dumps(snap, indent=4).encode()
    path = folder / name
    if name.endswith(".bz2"):
        import bz2

        raw = bz2.compress(raw)
    elif name.endswith(".gz"):
        import gzip

        raw = gzip.compress(raw, mtime=0)
    elif name.endswith(".xz"):
        import lzma

        raw = lzma.compress(raw)
    path.write_bytes(raw)
    return path


def reference_grid(ds: xr.Dataset) -> xr.Dataset:
    """The expected gridded dataset, built independently with xarray's own tools: the
    rule of the issue (grid flag or full unique product, x0 unique for 1-D)."""
    xnames = sorted(
        (str(n) for n in ds.variables if str(n)[:1] == "x" and str(n)[1:].isdigit()),
        key=lambda n: int(n[1:]),
    )
    xnames = [n for n in xnames if ds[n].dims == ("dim_0",)]
    if "dim_0" not in ds.dims or not xnames:
        return ds
    ds = ds.set_coords(xnames)
    n = ds.sizes["dim_0"]
    if any(ds[x].isnull().any() for x in xnames):
        return ds
    if len(xnames) == 1:
        if np.unique(ds[xnames[0]].values).size == n:
            return ds.swap_dims({"dim_0": xnames[0]})
        return ds
    counts = [np.unique(ds[x].values).size for x in xnames]
    flag = bool(ds.attrs.get("grid_2d", ds.attrs.get("2D-grid", False)))
    pairs = {tuple(v) for v in np.stack([ds[x].values for x in xnames], axis=1).tolist()}
    size = int(np.prod(counts))
    if len(pairs) == n and (size == n or (flag and size <= 2 * n)):
        out = ds.set_index(dim_0=xnames).unstack("dim_0")
        for x in xnames:
            out[x].attrs = dict(ds[x].attrs)
        return out.transpose(*xnames, ...)
    return ds
