"""``snapshot.json`` (or its compressed forms): what it tells cheaply about a measurement.

Quantify >= 2025 may write ``snapshot.json.bz2``, ``.gz`` or ``.xz`` instead of the plain
file (``MeasurementControl.metadata_compression``); readers try them in that order.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SNAPSHOT_NAMES = ("snapshot.json", "snapshot.json.bz2", "snapshot.json.gz", "snapshot.json.xz")
#: larger snapshots are uploaded but not parsed for metadata (cheap means cheap)
MAX_PARSE_BYTES = 64 * 2**20
_SAMPLE_KEYS = ("sample_name", "sample")


@dataclass
class SnapshotInfo:
    file: str | None = None
    instruments: list[str] = field(default_factory=list)
    sample: str | None = None
    problem: str | None = None  # why the snapshot could not be read


def find_snapshot(folder: Path) -> Path | None:
    for name in SNAPSHOT_NAMES:
        p = folder / name
        if p.is_file():
            return p
    return None


def _load(path: Path) -> Any:
    opener = {".bz2": bz2.open, ".gz": gzip.open, ".xz": lzma.open}.get(path.suffix, open)
    with opener(path, "rb") as fh:
        raw = fh.read(MAX_PARSE_BYTES + 1)
    if len(raw) > MAX_PARSE_BYTES:
        raise ValueError(f"larger than {MAX_PARSE_BYTES // 2**20} MiB: not parsed")
    return json.loads(raw)


def _find_sample(node: Any, depth: int = 0) -> str | None:
    """A ``sample_name``/``sample`` entry: a string, or a parameter whose value is one."""
    if not isinstance(node, dict) or depth > 4:
        return None
    for key in _SAMPLE_KEYS:
        value = node.get(key)
        if isinstance(value, dict):
            value = value.get("value")
        if isinstance(value, str) and value.strip():
            return value.strip()
    for key in ("metadata", "parameters", "instruments"):
        child = node.get(key)
        if isinstance(child, dict):
            children = child.values() if key == "instruments" else [child]
            for c in children:
                found = _find_sample(c, depth + 1)
                if found:
                    return found
    return None


def read_snapshot(folder: Path) -> SnapshotInfo:
    """What the measurement's snapshot says (never raises: problems land in ``problem``)."""
    path = find_snapshot(folder)
    if path is None:
        return SnapshotInfo()
    info = SnapshotInfo(file=path.name)
    try:
        data = _load(path)
    except (OSError, EOFError, ValueError, lzma.LZMAError) as exc:
        info.problem = f"{path.name} cannot be read ({str(exc).splitlines()[0][:200]})"
        return info
    if not isinstance(data, dict):
        info.problem = f"{path.name} is not a JSON object"
        return info
    instruments = data.get("instruments")
    if isinstance(instruments, dict):
        info.instruments = [str(k) for k in instruments]
    info.sample = _find_sample(data)
    return info
