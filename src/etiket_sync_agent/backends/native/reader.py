"""Read a native measurement file (while it is written) into an xarray Dataset.

The file is opened in SWMR read mode without file locks (h5py ``swmr=True,
locking=False``): the writer is never blocked nor disturbed. Only the first
``points_written`` points are taken (see :mod:`etiket_sync_agent.native.layout`), so a
reader never sees half a point; every later position is NaN.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from etiket_sync_agent.errors import DatasetError
from etiket_sync_agent.native.layout import LAYOUT_ATTR, MEASUREMENT_ATTR, POINTS

if TYPE_CHECKING:
    import xarray as xr


@dataclass
class MeasurementRead:
    ds: xr.Dataset
    points: int  # whole points in the file
    total: int | None  # declared points (None: open-ended)


def read_measurement(path: Path, dataset_name: str, state: str) -> MeasurementRead:
    """The measurement at ``path`` as an xarray Dataset. DatasetError (retryable) if the
    file cannot be opened now (e.g. a writer setting it up), not retryable if it is not a
    native measurement file."""
    import h5py
    import xarray as xr

    try:
        f = h5py.File(path, "r", swmr=True, locking=False)
    except FileNotFoundError:
        raise DatasetError(f"{path.name} is listed in the manifest but missing") from None
    except OSError as exc:
        raise DatasetError(f"{path.name} cannot be opened now: {exc}") from None
    with f:
        try:
            layout = json.loads(f.attrs[LAYOUT_ATTR])
            coords = [(str(n), str(u), bool(o)) for n, u, o in layout["coords"]]
            data_vars = [(str(n), str(u)) for n, u, _ in layout["data_vars"]]
            points = int(f[POINTS][()])
            name = f.attrs.get(MEASUREMENT_ATTR, path.stem)
            name = name.decode() if isinstance(name, bytes) else str(name)
        except (KeyError, ValueError, TypeError) as exc:
            raise DatasetError(
                f"{path.name} is not a native measurement file ({exc})", retryable=False
            ) from None
        is_open = coords[0][2]
        inner = math.prod(len(f[n]) for n, _, _ in coords[1:]) if len(coords) > 1 else 1
        steps = -(-points // inner) if is_open else len(f[coords[0][0]])
        total = None if is_open else steps * inner
        out_coords = {}
        for i, (cname, unit, _) in enumerate(coords):
            values = f[cname][:steps] if i == 0 else f[cname][()]
            out_coords[cname] = (cname, np.asarray(values), {"units": unit})
        dims = [c[0] for c in coords]
        out_vars = {}
        for vname, unit in data_vars:
            d = f[vname]
            values = np.array(d[:steps]) if is_open else np.array(d[()])
            if values.shape[0] < steps:  # resized after the counter was read: cannot be
                raise DatasetError(f"{path.name}: {vname} is shorter than its points")
            flat = values.reshape(-1)
            flat[points:] = np.nan  # beyond the counter: not whole yet (or never measured)
            out_vars[vname] = (dims, flat.reshape(values.shape), {"units": unit})
    ds = xr.Dataset(
        out_vars,
        coords=out_coords,
        attrs={
            "name": name,
            "dataset": dataset_name,
            "points_written": points,
            "points_declared": -1 if total is None else total,
            "state": state,
        },
    )
    return MeasurementRead(ds, points, total)
