"""Test data for the labber backend: Labber logs written with h5py in the documented
layout (``../shared/formats/labber.md``), and the simplest reference reader.

The writer lays values out as Labber does: ``Data/Data[i0, column, j]`` with ``i0`` the
first step's point and ``j`` every other step point (second step fastest);
``Traces/<ch>[sample, part, e]`` with ``e`` every step point (first step fastest).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


def _vlen():
    import h5py

    return h5py.special_dtype(vlen=bytes)


@dataclass
class Step:
    name: str
    values: list[float]
    unit: str = ""
    equation: str = "x"  # with use_relations: driven by other steps (one point of its own)
    related: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None


@dataclass
class Scalar:
    name: str
    unit: str
    fn: Callable[[dict[str, np.ndarray]], np.ndarray]  # step name -> grid -> values
    complex: bool = False


@dataclass
class Trace:
    name: str
    unit: str
    n_samples: int
    t0: float
    dt: float
    fn: Callable[[dict[str, np.ndarray], np.ndarray], np.ndarray]  # grid, t -> values
    complex: bool = True
    x_name: str = "Time"
    x_unit: str = "s"
    #: real traces only: store x beside y (parts [y, x]) instead of t0/dt
    explicit_x: bool = False
    #: one (t0, dt) row per entry, t0 shifted by this much per entry
    t0_step: float = 0.0


@dataclass
class LogSpec:
    name: str
    steps: list[Step]
    scalars: list[Scalar] = field(default_factory=list)
    traces: list[Trace] = field(default_factory=list)
    creation_time: float = 1.7e9
    completed: bool = True
    outer_written: int | None = None  # traces (Data/Data last axis) written; None = all
    trace_entries: int | None = None  # Traces entries written; None = as Data/Data
    tags: list[str] = field(default_factory=list)
    user: str = ""
    project: str = ""
    comment: str = ""
    star: bool | None = None
    version: str = "1.8.6"

    @property
    def dims(self) -> list[int]:
        return [len(s.values) for s in self.steps]

    def grid(self) -> dict[str, np.ndarray]:
        """Each step's value at every step point, shape ``dims`` (indexing 'ij')."""
        swept = [np.asarray(s.values, dtype=float) for s in self.steps]
        mesh = np.meshgrid(*swept, indexing="ij")
        out = {s.name: m for s, m in zip(self.steps, mesh, strict=True)}
        for s in self.steps:
            if s.related is not None:
                out[s.name] = s.related(out)
        return out

    def varying(self) -> list[int]:
        """Step index: steps with several points, and steps driven by relations."""
        return [k for k, s in enumerate(self.steps) if len(s.values) > 1 or s.related]


def _strings(values: list[str]) -> np.ndarray:
    return np.array([v.encode() for v in values], dtype=_vlen())


def _write_log(g: Any, spec: LogSpec, root: bool) -> None:
    dims = spec.dims
    g.attrs["version"] = spec.version
    g.attrs["log_name"] = spec.name
    g.attrs["creation_time"] = spec.creation_time
    g.attrs["comment"] = spec.comment
    g.attrs["Step dimensions"] = np.array(dims)
    g.attrs["time_per_point"] = 0.01
    if spec.star is not None:
        g.attrs["star"] = spec.star
    vlen = _vlen()
    step_dtype = np.dtype(
        [
            ("channel_name", vlen),
            ("step_unit", "<i2"),
            ("wait_after", "<f8"),
            ("after_last", "<i2"),
            ("final_value", "<f8"),
            ("use_relations", "?"),
            ("equation", vlen),
            ("show_advanced", "?"),
            ("sweep_mode", "<i2"),
            ("use_outside_sweep_rate", "?"),
            ("sweep_rate_outside", "<f8"),
            ("alternate_direction", "?"),
        ]
    )
    rows = [
        (
            s.name.encode(),
            0,
            0.0,
            0,
            0.0,
            s.related is not None,
            s.equation.encode(),
            False,
            0,
            False,
            0.0,
            False,
        )
        for s in spec.steps
    ]
    g.create_dataset("Step list", data=np.array(rows, dtype=step_dtype))
    items_dtype = np.dtype(
        [
            ("range_type", "<i2"),
            ("step_type", "<i2"),
            ("single", "<f8"),
            ("start", "<f8"),
            ("stop", "<f8"),
            ("center", "<f8"),
            ("span", "<f8"),
            ("step", "<f8"),
            ("n_pts", "<i4"),
            ("interp", "<i2"),
            ("sweep_rate", "<f8"),
        ]
    )
    for s in spec.steps:
        sc = g.create_group(f"Step config/{s.name}")  # a "/" in the name nests groups
        v = s.values
        if len(v) > 1:
            item = (
                1,
                1,
                v[0],
                v[0],
                v[-1],
                (v[0] + v[-1]) / 2,
                v[-1] - v[0],
                (v[-1] - v[0]) / (len(v) - 1),
                len(v),
                0,
                0.0,
            )
        else:
            item = (0, 0, v[0], v[0], v[0], v[0], 0.0, 0.0, 1, 0, 0.0)
        sc.create_dataset("Step items", data=np.array([item], dtype=items_dtype))
        rel = np.dtype([("variable", vlen), ("channel_name", vlen), ("use_lookup", "?")])
        sc.create_dataset(
            "Relation parameters", data=np.array([(b"x", b"Step values", False)], rel)
        )
    chan_dtype = np.dtype(
        [
            ("name", vlen),
            ("instrument", vlen),
            ("quantity", vlen),
            ("unitPhys", vlen),
            ("unitInstr", vlen),
            ("gain", "<f8"),
            ("offset", "<f8"),
            ("amp", "<f8"),
        ]
    )
    chans = [(s.name, s.unit) for s in spec.steps] + [(c.name, c.unit) for c in spec.scalars]
    chans += [(t.name, t.unit) for t in spec.traces]
    g.create_dataset(
        "Channels",
        data=np.array(
            [
                (
                    n.encode(),
                    b"Sim - IP: , Sim at localhost",
                    n.split(" - ")[-1].encode(),
                    u.encode(),
                    u.encode(),
                    1.0,
                    0.0,
                    1.0,
                )
                for n, u in chans
            ],
            dtype=chan_dtype,
        ),
    )
    inst_dtype = np.dtype([("hardware", vlen), ("version", vlen), ("id", vlen), ("name", vlen)])
    g.create_dataset(
        "Instruments",
        data=np.array(
            [(b"Simulator", b"1.0", b"Sim - IP: , Sim at localhost", b"Sim")], inst_dtype
        ),
    )
    ic = g.create_group("Instrument config/Sim - IP: , Sim at localhost")
    ic.attrs["Frequency"] = 5e9
    ic.attrs["Output"] = True
    ic.attrs["Mode"] = "CW"
    log_dtype = np.dtype([("channel_name", vlen)])
    g.create_dataset(
        "Log list",
        data=np.array([(c.name.encode(),) for c in [*spec.scalars, *spec.traces]], log_dtype),
    )
    if root:
        g.create_group("Settings").attrs["Data precision"] = "Double precision"
        tags = g.create_group("Tags")
        tags.attrs["Tags"] = _strings(spec.tags) if spec.tags else np.zeros(0)
        tags.attrs["User"] = _strings([spec.user])
        tags.attrs["Project"] = _strings([spec.project])

    grid = spec.grid()
    varying = spec.varying()
    n0 = dims[0]
    n_outer = math.prod(dims[1:])
    m = n_outer if spec.outer_written is None else spec.outer_written
    columns: list[np.ndarray] = []
    names: list[tuple[str, str]] = []
    for k in varying:
        columns.append(grid[spec.steps[k].name])
        names.append((spec.steps[k].name, ""))
    for c in spec.scalars:
        values = c.fn(grid)
        if c.complex:
            columns += [values.real, values.imag]
            names += [(c.name, "Real"), (c.name, "Imaginary")]
        else:
            columns.append(values)
            names.append((c.name, ""))
    data = g.create_group("Data")
    data.attrs["Completed"] = spec.completed
    data.attrs["Step dimensions"] = np.array(dims)
    data.attrs["Step index"] = np.array(varying, dtype=np.int32)
    fixed = [k for k in range(len(dims)) if k not in varying]
    data.attrs["Fixed step index"] = np.array(fixed, dtype=np.int32)
    data.attrs["Fixed step values"] = np.array([spec.steps[k].values[0] for k in fixed])
    block = np.stack([col.reshape(n0, n_outer, order="F") for col in columns], axis=1)
    dset = data.create_dataset(
        "Data",
        data=block[:, :, :m],
        maxshape=(n0, len(columns), n_outer),
        chunks=(n0, len(columns), 1),
        compression="gzip",
    )
    assert dset.shape[2] == m
    cn = np.dtype([("name", vlen), ("info", vlen)])
    data.create_dataset(
        "Channel names", data=np.array([(n.encode(), i.encode()) for n, i in names], cn)
    )
    data.create_dataset("Time stamp", data=spec.creation_time + np.arange(m), maxshape=(n_outer,))
    if spec.traces:
        traces = g.create_group("Traces")
        n_entries = math.prod(dims)
        ne = min(n0 * m, n_entries) if spec.trace_entries is None else spec.trace_entries
        for t in spec.traces:
            t0 = t.t0 + t.t0_step * np.arange(n_entries)  # per entry, first step fastest
            times = t0[:, None] + t.dt * np.arange(t.n_samples)  # entries x samples
            tt = times.reshape([*dims[::-1], t.n_samples]).transpose(
                [*range(len(dims) - 1, -1, -1), len(dims)]
            )  # dims + (samples,): each entry's own time axis
            values = t.fn(grid, tt if t.t0_step else tt[(0,) * len(dims)])
            flat = np.moveaxis(values, -1, 0).reshape(t.n_samples, -1, order="F")
            if t.complex:
                parts = np.stack([flat.real, flat.imag], axis=1)
            elif t.explicit_x:
                parts = np.stack([flat, times.T], axis=1)
            else:
                parts = flat[:, None, :]
            ds = traces.create_dataset(
                t.name, data=parts[:, :, :ne], maxshape=(None, parts.shape[1], n_entries)
            )
            ds.attrs["complex"] = t.complex
            ds.attrs["x, name"] = t.x_name
            ds.attrs["x, unit"] = t.x_unit
            traces.create_dataset(f"{t.name}_N", data=np.array([t.n_samples], dtype=np.int32))
            if t.t0_step:
                rows = np.stack([t0, np.full(n_entries, t.dt)], axis=1)[:ne]
            else:
                rows = np.array([[t.t0, t.dt]])
            if not t.explicit_x:
                traces.create_dataset(f"{t.name}_t0dt", data=rows, maxshape=(n_entries, 2))
        traces.create_dataset("Time stamp", data=spec.creation_time + np.arange(ne))


def write_labber_file(path: Path, spec: LogSpec, appended: list[LogSpec] | None = None) -> Path:
    """A Labber log file at ``path`` (``appended``: ``Log_2``, ``Log_3``, ...)."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        _write_log(f, spec, root=True)
        for n, extra in enumerate(appended or [], start=2):
            _write_log(f.create_group(f"Log_{n}"), extra, root=False)
    return path


# -- the reference: the simplest reading of Data/Data and Traces -------------------------------


def reference_logs(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """log key ("" or "Log_N") -> channel name -> values on the step grid (first step last,
    steps with one point dropped, points not measured NaN), read with plain h5py."""
    import h5py

    out: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(path, "r", locking=False) as f:
        keys = [""] + sorted((k for k in f if k.startswith("Log_")), key=lambda k: int(k[4:]))
        for key in keys:
            g = f[key] if key else f
            if "Data" not in g or "Data" not in g["Data"]:
                continue
            dims = [int(d) for d in g["Data"].attrs["Step dimensions"]]
            shape = [d for d in reversed(dims) if d > 1]
            data = g["Data/Data"][()]
            n0, _, m = data.shape
            outer = math.prod(dims[1:])
            names = [
                (bytes(r[0]).decode(), bytes(r[1]).decode()) for r in g["Data/Channel names"][()]
            ]
            values: dict[str, np.ndarray] = {}
            for c, (name, info) in enumerate(names):
                full = np.full((n0, outer), np.nan)
                full[:, :m] = data[:, c, :]
                grid = full.T.reshape(shape)
                if info == "Imaginary":
                    values[name] = values[name] + 1j * grid
                else:
                    values[name] = grid
            for name, t in g.get("Traces", {}).items():
                if t.ndim != 3:
                    continue
                raw = t[()]
                v = raw[:, 0, :] + 1j * raw[:, 1, :] if t.attrs.get("complex") else raw[:, 0, :]
                full = np.full((math.prod(dims), raw.shape[0]), np.nan, dtype=v.dtype)
                full[: v.shape[1]] = v.T
                values[name] = full.reshape([*shape, raw.shape[0]])
            out[key] = values
    return out
