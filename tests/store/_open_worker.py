"""A process opening new databases in step with a twin, for the open-race test.

Usage: python _open_worker.py BASE WORKER_ID ROUNDS
Round i: announce ``ready-i-W``, wait for the twin's, then open (create) the new store
``BASE/store-i`` and the new state DB ``BASE/state-i.db`` at the same moment as the twin.
Prints "ok" and exits 0 when every open worked.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from etiket_sync_agent.state.db import StateDB
from etiket_sync_agent.store.local import LocalStore


def main(base: Path, worker: int, rounds: int) -> None:
    for i in range(rounds):
        (base / f"ready-{i}-{worker}").touch()
        deadline = time.monotonic() + 60
        while not (base / f"ready-{i}-{1 - worker}").exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"the twin never reached round {i}")
            time.sleep(0.0005)
        LocalStore(base / f"store-{i}").close()
        StateDB(base / f"state-{i}.db").close()
    print("ok")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
