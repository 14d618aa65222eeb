"""A MeasurementControl-like writer process for the live tests (no quantify needed).

argv: datadir nx ny point_delay_s update_interval_s [name [stop_after]]
Makes ``<datadir>/<day>/<TUID>-<name>/``, writes ``snapshot.json`` and the NaN-filled
2-D dataset, then measures point by point (value of point i = i * 0.5), rewriting the
whole ``dataset.hdf5`` in place at most every ``update_interval_s`` and once at the end,
exactly as MeasurementControl does. HDF5 file locking stays on (quantify turns it off):
a reader holding an HDF5 lock on the file would make a write here fail.

Prints "started<TAB><relative folder><TAB><tuid>" after the first write and "done <writes>" at
the end; any failed write raises and exits non-zero.
"""

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.backends.quantify.mc_files import (  # noqa: E402
    grid_dataset,
    make_tuid,
    measurement_folder,
    write_mc,
    write_snapshot,
)

datadir = Path(sys.argv[1])
nx, ny = int(sys.argv[2]), int(sys.argv[3])
delay, interval = float(sys.argv[4]), float(sys.argv[5])
name = sys.argv[6] if len(sys.argv) > 6 else "live 2D"
#: stop measuring after this many points (a stuck instrument): write, then hang
stop_after = int(sys.argv[7]) if len(sys.argv) > 7 else None

tuid = make_tuid()
folder = measurement_folder(datadir, tuid, name)
ds = grid_dataset(tuid, name, [np.linspace(0, 1, nx), np.linspace(-1, 1, ny)], 1, flag=True)
path = folder / "dataset.hdf5"
write_mc(ds, path)
write_snapshot(folder)
print("started", folder.relative_to(datadir).as_posix(), tuid, sep="\t", flush=True)
writes = 1
last = time.monotonic()
n = nx * ny
for i in range(n):
    if i == stop_after:
        write_mc(ds, path)
        print("stuck", i, flush=True)
        time.sleep(3600)
    time.sleep(delay)
    ds["y0"].values[i] = i * 0.5
    if time.monotonic() - last > interval or i == n - 1:
        write_mc(ds, path)
        writes += 1
        last = time.monotonic()
print("done", writes, flush=True)
