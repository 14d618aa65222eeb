"""Test helper process: a Labber-like writer growing a log entry by entry.

argv: path n_outer delay_s
Writes the log's structure (Completed false, no traces yet), prints "started", then
appends one trace (all points of the first step) to Data/Data every ``delay_s`` keeping
the file open and flushing after each, as Labber does; finally sets Completed and
prints "done". Any failure exits non-zero: the agent reading beside it must never make
the writer fail.
"""

import math
import sys
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.backends.labber.labber_files import write_labber_file  # noqa: E402
from tests.backends.labber.live_spec import live_sweep  # noqa: E402

path, n_outer, delay = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
spec = live_sweep(n_outer)
full = live_sweep(n_outer)
tmp = path.with_name(".writer-reference.hdf5")  # the complete values, to append from
write_labber_file(tmp, full)
with h5py.File(tmp, "r") as ref:
    block = ref["Data/Data"][()]
tmp.unlink()
spec.completed = False
spec.outer_written = 0
write_labber_file(path, spec)
print("started", flush=True)
with h5py.File(path, "a") as f:
    data = f["Data/Data"]
    stamps = f["Data/Time stamp"]
    assert data.shape[2] == 0 and data.maxshape[2] == math.prod(spec.dims[1:])
    for j in range(n_outer):
        data.resize(j + 1, axis=2)
        data[:, :, j] = block[:, :, j]
        stamps.resize(j + 1, axis=0)
        stamps[j] = time.time()
        f.flush()
        time.sleep(delay)
    f["Data"].attrs["Completed"] = np.True_
    f.flush()
print("done", flush=True)
