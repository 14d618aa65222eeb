"""A measurement script using the native API, run as a separate process by the tests.

usage: _native_writer.py DIR MODE NX NY DELAY FLUSH [K [GATE]]

Writes the 2-D grid ``value(i, j) = i * 100 + j`` (``I``) and ``-value`` (``Q``) point by
point into dataset "grid scan" (scope "proj"), ``DELAY`` s between points, flushing at
most every ``FLUSH`` s. Prints ``started<TAB>folder name`` once the dataset exists. MODE:

* ``run``: every point, then ``done``;
* ``stuck``: K points, an explicit flush, ``flushed<TAB>K``, then 3 more points (not
  flushed), ``stuck``, and a long sleep (the test kills it);
* ``raise``: K points, then RuntimeError("instrument on fire").

GATE (a file path): before rows 1 to 3 the writer waits (at most 60 s) until that file
holds a number >= the row: the test lets it go on once it has seen the rows before in
the store, so that several live versions are seen however slow the machine is.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from etiket_sync_agent import native


def value(i: int, j: int) -> float:
    return float(i * 100 + j)


def wait_gate(gate: str, row: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if int(Path(gate).read_text() or 0) >= row:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.02)


def main() -> None:
    folder, mode, nx, ny, delay, flush = sys.argv[1:7]
    nx_, ny_, delay_ = int(nx), int(ny), float(delay)
    k = int(sys.argv[7]) if len(sys.argv) > 7 else nx_ * ny_
    gate = sys.argv[8] if len(sys.argv) > 8 else ""
    xs, ys = np.linspace(0.0, 1.0, nx_), np.arange(ny_) * 1e-3
    with native.dataset(
        "grid scan",
        scope="proj",
        tags=["grid", "test"],
        attributes={"sample": "S12", "run": 7},
        description="a 2-D scan written by a test script",
        directory=folder,
    ) as ds:
        print(f"started\t{ds.path.name}", flush=True)
        with ds.measurement(
            "grid",
            coords={"x": ("V", xs), "y": ("s", ys)},
            data_vars={"I": "V", "Q": "V"},
            flush_interval_s=float(flush),
        ) as m:
            n = 0
            for i in range(nx_):
                if gate and 1 <= i <= 3:
                    wait_gate(gate, i)
                for j in range(ny_):
                    if mode in ("stuck", "raise") and n == k:
                        if mode == "raise":
                            raise RuntimeError("instrument on fire")
                        m.flush()
                        print(f"flushed\t{k}", flush=True)
                        for jj in range(3):
                            m.append(I=-1.0, Q=float(jj))
                        print("stuck", flush=True)
                        time.sleep(300)
                    m.append(x=xs[i], y=ys[j], I=value(i, j), Q=-value(i, j))
                    n += 1
                    time.sleep(delay_)
        ds.add_file(b"measured by a test\n", name="notes.txt")
    print("done", flush=True)


if __name__ == "__main__":
    main()
