"""A core-tools writer process for the live tests: registers a 1-D measurement of N points,
prints its uuid, appends one point every INTERVAL seconds (a flush each), then sets
``completed`` (unless --abandon). Usage: python _live_writer.py DBNAME N INTERVAL [--abandon]"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.backends.core_tools import ct_writer  # noqa: E402


def main() -> None:
    dbname, n, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    w = ct_writer.Writer(dbname)
    h = w.register("live sweep", ct_writer.one_d("live", n), project="live")
    print(h.uuid, flush=True)
    for _ in range(n):
        w.write(h, 1)
        time.sleep(interval)
    if "--abandon" not in sys.argv:
        w.finish(h)
    w.close()


if __name__ == "__main__":
    main()
