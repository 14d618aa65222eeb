"""The small JSON files operations keep in the home (alert targets, agent settings)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from etiket_sync_agent.errors import ConfigError


def load(path: Path) -> dict[str, Any]:
    """The object in ``path`` (empty when there is no file); ConfigError (one line, with
    a hint) for a file that cannot be read or is not a JSON object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", hint="fix or remove the file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a JSON object", hint="fix or remove the file")
    return data


def save(path: Path, data: dict[str, Any], mode: int = 0o600) -> None:
    """Write ``data`` atomically (temp file, fsync, rename): a reader never sees half a
    file. ``mode``: of a new file (0600: only the user reads it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
