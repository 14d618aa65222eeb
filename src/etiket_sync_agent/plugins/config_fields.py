"""Source settings that many backends share, declared and checked once.

Use them in a backend's config dataclass::

    @dataclass
    class MyConfig:
        data_directory: Path = field(metadata={"help": "..."})
        set_up: str = set_up_field()
        is_server_folder: bool = server_folder_field()
        live_timeout_s: float = live_timeout_field(120.0, "unchanged this long: final")

        def validate(self) -> None:
            check_live_timeout(self.live_timeout_s)
            self.data_directory = existing_folder(self.data_directory, "data_directory")
"""

from __future__ import annotations

import math
from dataclasses import field
from pathlib import Path
from typing import Any

from etiket_sync_agent.errors import ConfigError


def set_up_field() -> Any:
    """``set_up``: the name of the measurement set-up (stored as attribute ``set-up``)."""
    return field(default="", metadata={"help": "name of the measurement set-up"})


def server_folder_field() -> Any:
    """``is_server_folder``: poll the folder instead of relying on file-system events."""
    return field(
        default=False,
        metadata={"help": "a network/server folder: poll instead of file-system events"},
    )


def live_timeout_field(default: float, help_text: str) -> Any:
    """``live_timeout_s``: after how long without change an unfinished dataset is final."""
    return field(default=default, metadata={"help": help_text})


def check_live_timeout(value: float) -> None:
    """A finite number of seconds, not negative."""
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise ConfigError(f"live_timeout_s must be a finite number of seconds >= 0, got {value}")


def existing_folder(path: str | Path, key: str, hint: str | None = None) -> Path:
    """``path`` made absolute; ConfigError naming ``key`` when it is not a folder."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_dir():
        raise ConfigError(f"{key} {resolved} does not exist or is not a folder", hint=hint)
    return resolved
