"""A script whose files may not grow past a limit (RLIMIT_FSIZE: the disk is "full").

usage: _disk_full_writer.py DIR LIMIT_BYTES
Appends rows of 1000 values (row i all equal to i) until a write fails.
"""

from __future__ import annotations

import resource
import signal
import sys

import numpy as np

from etiket_sync_agent import native

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failing write, not a killed process
folder, limit = sys.argv[1], int(sys.argv[2])
with native.dataset("too big", scope="proj", directory=folder) as ds:
    print(ds.path.name, flush=True)
    freqs = np.arange(1000.0)
    with ds.measurement("big", {"t": "s", "f": ("Hz", freqs)}, {"I": "V"}, flush_interval_s=0) as m:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        for i in range(100_000):
            m.append(t=float(i), I=np.full(1000, float(i)))
