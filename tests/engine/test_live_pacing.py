"""Live passes are paced by their own cost, and a finished live dataset is still
finalized at the next wake."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from importlib.metadata import EntryPoint
from pathlib import Path

from etiket_sync_agent.engine.source_runtime import LIVE_BUSY_FACTOR
from etiket_sync_agent.plugins.registry import BACKEND_GROUP, Registry
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources
from tests.conftest import FAST
from tests.helpers import item_status, running_engine, wait_for

LIVE = EntryPoint("livetest", "tests.engine._live_backend:LiveBackend", BACKEND_GROUP)
PASS_S = 0.3


def test_a_slow_live_dataset_gets_a_share_of_the_time_then_is_finalized(
    home, tmp_path: Path
) -> None:
    rt = Runtime(home, registry=Registry([LIVE]))
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"datasets": ["run1"], "live": "run1", "pass_seconds": PASS_S}))
    passes = Path(f"{state}.passes")
    rt.store.create_scope("lab")
    sources.add_source(rt, "livetest", "fridge", scope="lab", settings={"index_file": str(state)})
    settings = replace(FAST, live_interval_s=0.02)  # unpaced, a pass would follow every 0.02 s
    with running_engine(rt, settings):
        assert wait_for(lambda: passes.exists(), timeout=30)
        time.sleep(3.5)
        times = [float(t) for t in passes.read_text().split()]
        # each pass is followed by a pause of LIVE_BUSY_FACTOR times its duration: the
        # live passes take ~1/(1 + factor) of the time (unpaced: nearly all of it)
        assert len(times) >= 2, times
        busy = (len(times) - 1) * PASS_S / (times[-1] - times[0])
        assert LIVE_BUSY_FACTOR >= 3 and busy <= 0.35, (busy, times)  # unpaced: ~0.85
        assert item_status(rt, "run1", source="fridge") == "live"
        # the measurement ends: the item is finalized (checked at every wake)
        state.write_text(json.dumps({"datasets": ["run1"], "live": None, "pass_seconds": 0}))
        assert wait_for(lambda: item_status(rt, "run1", source="fridge") == "synchronized", 30)
    rt.close()
