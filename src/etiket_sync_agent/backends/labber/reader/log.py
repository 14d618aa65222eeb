"""One Labber log (the root one or an appended ``Log_N``) as an xarray Dataset.

* Grid: one dimension per step with more than one point, named after its channel, the
  first step last (innermost). Its values are a 1-D coordinate when they do not depend
  on the other steps; otherwise the dimension is ``"<channel> index"`` and the channel's
  values a variable on the grid. Steps driven by relations (varying, ``Data`` attribute
  ``Step index``, but with one point of their own) are variables on the grid too. Both
  carry the attribute ``labber_role = "step"``: NetCDF lists non-dimension coordinates in
  a space-separated attribute, so names with spaces (all Labber names) cannot be ones.
* Scalar log channels: variables on the grid (Real/Imaginary column pairs as complex).
* Vector log channels (``Traces``): variables on the grid plus their own axis
  ``"<channel> - <x name>"`` from ``_t0dt``/``_N`` or the stored x.
* Channel names with ``/`` (not allowed in NetCDF names) use ``_``; ``long_name`` keeps
  the original. Units come from the ``Channels`` table.
* Instrument configuration, step list/config, settings: JSON attributes (and the dicts
  ``instruments`` / ``settings`` for the JSON files).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import LabberFormatError
from .grid import (
    Column,
    StepGrid,
    fill_planned,
    planned_values,
    read_columns,
    read_entries,
    read_outer,
    read_trace,
    separable,
)
from .h5values import attrs_json, compound_field, jsonable, node_json, text

if TYPE_CHECKING:
    import xarray as xr

_TRACE_AUX = ("_N", "_t0dt")
#: CF time units of Labber's time stamps (seconds since the epoch, UTC)
_EPOCH = "seconds since 1970-01-01 00:00:00"
#: marks step channels stored as variables (see the module docstring)
_STEP_ROLE = {"labber_role": "step"}


@dataclass
class LogContent:
    """What one log holds, read into memory (the HDF5 file is closed afterwards)."""

    key: str  # "" for the root log, "Log_2", ...
    dataset: xr.Dataset | None  # None: the log holds no measured data
    instruments: dict[str, Any]
    settings: dict[str, Any]
    completed: bool
    measured: int = 0  # step points measured (entries of Data/Data or Traces)
    planned: int = 0
    warnings: list[str] = field(default_factory=list)


class _Names:
    """NetCDF-safe, unique variable/dimension names."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def add(self, name: str) -> str:
        base = name.replace("/", "_").strip() or "unnamed"
        candidate, n = base, 2
        while candidate in self.taken:
            candidate, n = f"{base} ({n})", n + 1
        self.taken.add(candidate)
        return candidate


def _rows(group: Any, key: str) -> list[Any]:
    obj = group.get(key)
    if obj is None or not hasattr(obj, "dtype"):
        return []
    return list(np.atleast_1d(obj[()]))


def _units(group: Any) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for row in _rows(group, "Channels"):
        name = text(compound_field(row, "name", index=0))
        out[name] = {
            "units": text(compound_field(row, "unitPhys")),
            "instrument": text(compound_field(row, "instrument")),
            "quantity": text(compound_field(row, "quantity")),
        }
    return out


def _var_attrs(name: str, channels: dict[str, dict[str, str]]) -> dict[str, str]:
    info = channels.get(name, {})
    attrs = {"long_name": name, "units": info.get("units", "")}
    for key in ("instrument", "quantity"):
        if info.get(key):
            attrs[key] = info[key]
    return attrs


def _config(group: Any, step_names: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(instruments, settings) of a log as JSON-ready dicts."""
    instruments: dict[str, Any] = {}
    if "Instruments" in group:
        instruments["instruments"] = node_json(group["Instruments"])
    if "Instrument config" in group:
        instruments["instrument_config"] = {
            name: node_json(g) for name, g in group["Instrument config"].items()
        }
    if "Channels" in group:
        instruments["channels"] = node_json(group["Channels"])
    settings: dict[str, Any] = {"measurement": attrs_json(group)}
    if "Settings" in group:
        settings["settings"] = attrs_json(group["Settings"])
    if "Step list" in group:
        settings["step_list"] = node_json(group["Step list"])
    step_config = group.get("Step config")
    if step_config is not None:
        # names holding "/" are nested groups in HDF5: look them up by path
        settings["step_config"] = {
            name: node_json(step_config[name]) for name in step_names if name in step_config
        }
    if "Log list" in group:
        settings["log_list"] = [
            text(compound_field(r, "channel_name", index=0))
            if getattr(r, "dtype", None) is not None and r.dtype.names
            else text(r)
            for r in _rows(group, "Log list")
        ]
    data = group.get("Data")
    if data is not None:
        settings["data"] = attrs_json(data)
        index = np.atleast_1d(data.attrs.get("Fixed step index", []))
        values = np.atleast_1d(data.attrs.get("Fixed step values", []))
        if index.size and index.size == values.size:
            settings["fixed_steps"] = {
                step_names[int(k)]: jsonable(v)
                for k, v in zip(index, values, strict=True)
                if 0 <= int(k) < len(step_names)
            }
    return instruments, settings


def _step_grid(group: Any, data: Any, n_steps: int) -> StepGrid:
    dims = data.attrs.get("Step dimensions", group.attrs.get("Step dimensions"))
    if dims is None:
        shape = data["Data"].shape
        return StepGrid((shape[0], shape[2]))
    dims_t = tuple(int(d) for d in np.atleast_1d(dims))
    if not dims_t or any(d < 1 for d in dims_t):
        raise LabberFormatError(f"invalid 'Step dimensions' {list(dims_t)}")
    return StepGrid(dims_t)


def _columns(data: Any) -> list[tuple[str, str]]:
    rows = _rows(data, "Channel names")
    return [
        (text(compound_field(r, "name", "Name", index=0)), text(compound_field(r, "info", "Info")))
        for r in rows
    ]


def read_log(group: Any, key: str, *, live: bool = False) -> LogContent:
    """Read the log stored in ``group`` (the file root or ``Log_N``).

    ``live``: the log may still be written (no warning about missing points).
    Raises :class:`LabberFormatError` when the structure does not add up.
    """
    import xarray as xr

    step_names = [
        text(compound_field(r, "channel_name", index=0)) for r in _rows(group, "Step list")
    ]
    instruments, settings = _config(group, step_names)
    data = group.get("Data")
    if data is None or "Data" not in data:
        return LogContent(key, None, instruments, settings, completed=False)
    completed = bool(np.asarray(data.attrs.get("Completed", False)).any())
    content = LogContent(key, None, instruments, settings, completed=completed)
    channels = _units(group)
    dset = data["Data"]
    if dset.ndim != 3:
        raise LabberFormatError(f"Data/Data has shape {dset.shape}, expected 3 axes")
    grid = _step_grid(group, data, len(step_names))
    names_all = step_names + [f"step {k + 1}" for k in range(len(step_names), len(grid.dims))]
    if dset.shape[0] != grid.n0:
        raise LabberFormatError(
            f"Data/Data holds {dset.shape[0]} points per trace but the first step plans {grid.n0}"
        )
    cols = _columns(data)
    if len(cols) != dset.shape[1]:
        raise LabberFormatError(
            f"Data/Data has {dset.shape[1]} columns but 'Channel names' lists {len(cols)}"
        )
    step_index = [int(k) for k in np.atleast_1d(data.attrs.get("Step index", []))]
    if len(step_index) > len(cols) or any(not 0 <= k < len(grid.dims) for k in step_index):
        raise LabberFormatError(f"'Step index' {step_index} does not match the columns")
    if dset.shape[2] > grid.n_outer:
        content.warnings.append(
            f"{content_label(key)}: Data/Data holds {dset.shape[2]} traces, more than the "
            f"{grid.n_outer} the steps plan; the extra ones are not stored"
        )

    targets = _targets(cols, len(step_index))
    arrays = read_columns(dset, grid, [t[1] for t in targets])
    measured_traces = min(dset.shape[2], grid.n_outer)
    content.measured = measured_traces * grid.n0
    content.planned = grid.n_entries

    names = _Names()
    coords: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    step_arrays = dict(zip(step_index, arrays, strict=False))
    grid_dims = _step_grid_variables(
        grid, names_all, step_arrays, group.get("Step config"), channels, names, coords, variables
    )
    n_steps = len(step_index)
    for (channel, _), values in zip(targets[n_steps:], arrays[n_steps:], strict=True):
        variables[names.add(channel)] = (grid_dims, values, _var_attrs(channel, channels))
    if "Time stamp" in data:
        outer_dims = [d for d, k in zip(grid_dims, grid.swept, strict=True) if k != 0]
        variables[names.add("timestamp")] = (
            outer_dims,
            read_outer(data["Time stamp"], grid),
            {"long_name": "time each trace was measured", "units": _EPOCH},
        )

    traces = group.get("Traces")
    if traces is not None:
        _add_traces(traces, grid, grid_dims, names, channels, coords, variables, content)
        if "Time stamp" in traces:
            variables[names.add("trace_timestamp")] = (
                grid_dims,
                read_entries(traces["Time stamp"], grid),
                {"long_name": "time each trace entry was measured", "units": _EPOCH},
            )

    if not completed and not live and content.measured < content.planned:
        content.warnings.append(
            f"{content_label(key)} was not completed (Labber stopped or crashed?): stored "
            f"the {content.measured} of {content.planned} points measured, the rest as NaN"
        )
    content.dataset = xr.Dataset(
        variables, coords=coords, attrs=_dataset_attrs(group, instruments, settings, completed)
    )
    return content


def _targets(cols: list[tuple[str, str]], n_step_cols: int) -> list[tuple[str, Column]]:
    """What to read from ``Data/Data``: the step columns, then the log channels (a
    Real/Imaginary column pair of one name is one complex channel)."""
    targets = [(cols[c][0], Column(c)) for c in range(n_step_cols)]
    c = n_step_cols
    while c < len(cols):
        name, info = cols[c]
        if info == "Real" and c + 1 < len(cols) and cols[c + 1] == (name, "Imaginary"):
            targets.append((name, Column(c, c + 1)))
            c += 2
        else:
            targets.append((name, Column(c)))
            c += 1
    return targets


def _step_grid_variables(
    grid: StepGrid,
    step_names: list[str],
    step_arrays: dict[int, np.ndarray],
    step_config: Any,
    channels: dict[str, dict[str, str]],
    names: _Names,
    coords: dict[str, Any],
    variables: dict[str, Any],
) -> list[str]:
    """Add the grid's dimensions and the varying step channels (``step_arrays``: step ->
    its values on the grid); returns the grid's dimension names."""
    grid_dims: list[str] = []
    not_separable: list[tuple[str, np.ndarray, dict[str, str]]] = []
    for axis, k in enumerate(grid.swept):
        channel = step_names[k]
        attrs = _var_attrs(channel, channels)
        items = None
        if step_config is not None and channel in step_config:
            items = step_config[channel].get("Step items")
        planned = planned_values(items, grid.dims[k]) if items is not None else None
        values = step_arrays.get(k)
        line = separable(values, axis) if values is not None else planned
        if values is None or line is not None:
            dim = names.add(channel)
            if line is not None:
                coords[dim] = (dim, fill_planned(line, planned), attrs)
        else:  # its values depend on other steps too
            dim = names.add(f"{channel} index")
            not_separable.append((channel, values, attrs))
        grid_dims.append(dim)
    for channel, values, attrs in not_separable:
        variables[names.add(channel)] = (grid_dims, values, {**attrs, **_STEP_ROLE})
    for k, values in step_arrays.items():
        if k not in grid.swept:  # driven by a relation: varies with the swept steps
            channel = step_names[k]
            attrs = {**_var_attrs(channel, channels), **_STEP_ROLE}
            variables[names.add(channel)] = (grid_dims, values, attrs)
    return grid_dims


def content_label(key: str) -> str:
    return f"log {key}" if key else "the log"


def _add_traces(
    traces: Any,
    grid: StepGrid,
    grid_dims: list[str],
    names: _Names,
    channels: dict[str, dict[str, str]],
    coords: dict[str, Any],
    variables: dict[str, Any],
    content: LogContent,
) -> None:
    for channel, dset in traces.items():
        if channel == "Time stamp" or channel.endswith(_TRACE_AUX) or not hasattr(dset, "ndim"):
            continue
        if dset.ndim != 3:
            content.warnings.append(f"Traces/{channel} has shape {dset.shape}: not stored")
            continue
        is_complex = bool(np.asarray(dset.attrs.get("complex", False)).any())
        counts = np.atleast_1d(traces[f"{channel}_N"][()]) if f"{channel}_N" in traces else None
        n_samples = int(counts.max()) if counts is not None and counts.size else dset.shape[0]
        arrays = read_trace(dset, grid, is_complex, n_samples)
        values = arrays.values
        ns = values.shape[-1]
        if counts is not None and counts.size > 1 and (counts != counts[0]).any():
            # traces of different lengths: samples past each entry's own count are NaN
            flat = values.reshape(-1, ns)
            for e, n in enumerate(counts[: flat.shape[0]]):
                flat[e, int(n) :] = np.nan
        data_entries = content.measured
        if arrays.entries > data_entries and data_entries < grid.n_entries:
            content.warnings.append(
                f"Traces/{channel} holds {arrays.entries} entries but Data/Data only "
                f"{data_entries} (an aborted scan): every trace entry is stored"
            )
        if arrays.entries > grid.n_entries:
            content.warnings.append(
                f"Traces/{channel} holds {arrays.entries} entries, more than the "
                f"{grid.n_entries} step points: the extra ones are not stored"
            )
        content.measured = max(content.measured, min(arrays.entries, grid.n_entries))
        x_name = text(dset.attrs.get("x, name", "")) or "index"
        x_attrs = {"long_name": x_name, "units": text(dset.attrs.get("x, unit", ""))}
        axis_values = _trace_axis(traces, channel, arrays, ns)
        dim = names.add(f"{channel} - {x_name}")
        if axis_values is not None and axis_values.ndim == 1:
            coords[dim] = (dim, axis_values, x_attrs)
        elif axis_values is not None:
            index_dim = names.add(f"{dim} index")
            variables[dim] = ([*grid_dims, index_dim], axis_values, {**x_attrs, "labber_role": "x"})
            dim = index_dim
        variables[names.add(channel)] = ([*grid_dims, dim], values, _var_attrs(channel, channels))


def _trace_axis(traces: Any, channel: str, arrays: Any, ns: int) -> np.ndarray | None:
    """The trace's x values: 1-D when shared by all entries, else one row per entry."""
    if arrays.x is not None:
        flat = arrays.x.reshape(-1, ns)
        measured = flat[~np.isnan(flat).all(axis=1)]
        if measured.size == 0:
            return None
        if (measured == measured[0]).all():
            return measured[0].copy()
        return arrays.x
    key = f"{channel}_t0dt"
    if key not in traces:
        return None
    t0dt = np.asarray(traces[key][()], dtype=np.float64).reshape(-1, 2)
    if t0dt.shape[0] == 0:
        return None
    steps = np.arange(ns)
    if (t0dt == t0dt[0]).all():
        return t0dt[0, 0] + t0dt[0, 1] * steps
    shape = arrays.values.shape
    out = np.full((int(np.prod(shape[:-1])), ns), np.nan)
    n = min(out.shape[0], t0dt.shape[0])
    out[:n] = t0dt[:n, :1] + t0dt[:n, 1:] * steps
    return out.reshape(shape)


def _dataset_attrs(
    group: Any, instruments: dict[str, Any], settings: dict[str, Any], completed: bool
) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    root = group.file.attrs
    for key, value in (
        ("labber_version", root.get("version")),
        ("log_name", group.attrs.get("log_name", root.get("log_name"))),
    ):
        if value is not None:
            attrs[key] = text(value)
    ctime = group.attrs.get("creation_time")
    if ctime is not None:
        attrs["creation_time"] = datetime.fromtimestamp(float(ctime), timezone.utc).isoformat()
    comment = text(group.attrs.get("comment", ""))
    if comment:
        attrs["comment"] = comment
    attrs["completed"] = int(completed)
    for key in ("instrument_config", "instruments"):
        if key in instruments:
            attrs[key] = json.dumps(instruments[key])
    for key in ("step_list", "step_config", "settings", "fixed_steps", "log_list", "measurement"):
        if key in settings:
            attrs[key] = json.dumps(settings[key])
    return attrs
