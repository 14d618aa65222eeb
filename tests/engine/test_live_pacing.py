"""A live dataset gets live passes while it is measured, and once finished it is still
finalized at the next wake. (How much of the time its passes take is a timing: see
``bench/bench_latency.py --live-pacing``.)"""

from __future__ import annotations

import json
from dataclasses import replace
from importlib.metadata import EntryPoint
from pathlib import Path

from etiket_sync_agent.plugins.registry import BACKEND_GROUP, Registry
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources
from tests.conftest import FAST
from tests.helpers import item_status, running_engine, wait_for

LIVE = EntryPoint("livetest", "tests.engine._live_backend:LiveBackend", BACKEND_GROUP)
PASS_S = 0.3


def test_a_slow_live_dataset_gets_live_passes_then_is_finalized(home, tmp_path: Path) -> None:
    rt = Runtime(home, registry=Registry([LIVE]))
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"datasets": ["run1"], "live": "run1", "pass_seconds": PASS_S}))
    passes = Path(f"{state}.passes")
    rt.store.create_scope("lab")
    sources.add_source(rt, "livetest", "fridge", scope="lab", settings={"index_file": str(state)})
    settings = replace(FAST, live_interval_s=0.02)
    with running_engine(rt, settings):
        # live passes go on while it is measured (their share of the time, paced by
        # LIVE_BUSY_FACTOR, is measured in bench/bench_latency.py --live-pacing)
        assert wait_for(
            lambda: passes.exists() and len(passes.read_text().split()) >= 2, timeout=30
        )
        assert item_status(rt, "run1", source="fridge") == "live"
        # the measurement ends: the item is finalized (checked at every wake)
        state.write_text(json.dumps({"datasets": ["run1"], "live": None, "pass_seconds": 0}))
        assert wait_for(lambda: item_status(rt, "run1", source="fridge") == "synchronized", 30)
    rt.close()
