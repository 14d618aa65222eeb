"""``etiket-sync demo``: sample folderbase datasets in the home, synchronized end to end."""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from etiket_sync_agent.backends.folderbase.dataset_info import generate_dataset_info
from etiket_sync_agent.engine.events import Reporter, null_reporter
from etiket_sync_agent.engine.loop import RunSummary, SyncEngine
from etiket_sync_agent.engine.settings import EngineSettings
from etiket_sync_agent.errors import NotFoundError
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources

DEMO_SOURCE = "demo-folders"
DEMO_SCOPE = "demo"
N_DATASETS = 12


@dataclass
class DemoResult:
    workspace: Path
    created: int
    summary: RunSummary


def _png(width: int, height: int, pixel: Callable[[int, int], int]) -> bytes:
    """A tiny grayscale PNG (no imaging library needed)."""
    raw = b"".join(b"\x00" + bytes(pixel(x, y) for x in range(width)) for y in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def make_workspace(root: Path, n: int = N_DATASETS) -> int:
    """Write ``n`` sample datasets under ``root`` (existing ones are kept). Returns new."""
    created = 0
    start = datetime(2026, 1, 5, 9, 0).astimezone()
    for i in range(n):
        folder = root / f"2026-01-{5 + i // 4:02d}" / f"rabi_q{i % 4}_{i:03d}"
        if (folder / "_QH_dataset_info.yaml").exists():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        freq = 4.5 + 0.05 * i
        rows = ["time_ns,population,phase"]
        for k in range(101):
            t = 2.0 * k
            rows.append(
                f"{t},{0.5 - 0.5 * math.cos(2 * math.pi * t / (40 + i))},{(t * freq) % 6.28}"
            )
        (folder / "rabi.csv").write_text("\n".join(rows) + "\n")
        (folder / "notes.txt").write_text(f"Rabi oscillation on q{i % 4}, drive {freq:.2f} GHz\n")
        (folder / "plots").mkdir(exist_ok=True)
        (folder / "plots" / "rabi.png").write_bytes(
            _png(
                64,
                32,
                lambda x, y, i=i: (
                    int(127 + 120 * math.sin((x + i) / 6.0)) if y > 16 else int(255 * x / 63)
                ),
            )
        )
        raw = folder / "raw.zarr"
        raw.mkdir(exist_ok=True)
        (raw / ".zgroup").write_text('{"zarr_format": 2}')
        (raw / "0.0").write_bytes(bytes(range(256)) * 16)
        (folder / ".scratch").write_text("hidden files are not synchronized\n")
        generate_dataset_info(
            folder,
            f"Rabi q{i % 4} #{i}",
            collected=start + timedelta(hours=6 * i),
            description=f"Demo dataset {i}: Rabi oscillation of qubit q{i % 4}.",
            attributes={"sample": "demo-chip-7", "set-up": "fridge-1", "drive_GHz": round(freq, 3)},
            tags=["rabi", f"q{i % 4}", "demo"],
            converters=["csv_to_netcdf"],
            skip=["*.tmp"],
            thumbnails=["plots/*.png"],
        )
        created += 1
    return created


def run_demo(
    rt: Runtime,
    reporter: Reporter = null_reporter,
    settings: EngineSettings | None = None,
) -> DemoResult:
    """Create (or reuse) the demo workspace and source, then sync until nothing is due."""
    workspace = rt.home.demo_dir / "datasets"
    created = make_workspace(workspace)
    rt.store.create_scope(DEMO_SCOPE, "datasets created by `etiket-sync demo`")
    try:
        sources.show_source(rt, DEMO_SOURCE)
    except NotFoundError:
        sources.add_source(
            rt,
            "folderbase",
            DEMO_SOURCE,
            scope=DEMO_SCOPE,
            settings={"root_directory": str(workspace)},
        )
    # only the demo source: the home's other sources are left to `etiket-sync run`
    summary = SyncEngine(rt, settings, reporter, only_sources={DEMO_SOURCE}).run(once=True)
    return DemoResult(workspace, created, summary)
