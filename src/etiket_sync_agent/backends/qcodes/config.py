"""The settings of a qcodes source, checked when it is added or edited (and at start)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from etiket_sync_agent.backends.qcodes.reader import QCoDeSDatabaseBusy, validate_database
from etiket_sync_agent.errors import ConfigError, DatasetError
from etiket_sync_agent.plugins.config_fields import (
    check_live_timeout,
    live_timeout_field,
    set_up_field,
)

#: how long add-source waits for a writer's lock before saying the database is locked
VALIDATE_BUSY_TIMEOUT_S = 2.0


@dataclass
class QCoDeSConfig:
    """A qcodes source: one QCoDeS database, recognised by its content (not its name).

    :meth:`validate` refuses what would silently go wrong later: a nested or null
    ``static_attributes`` value (it could not be stored), limits that are not finite, a
    file that is not a QCoDeS database, and a database locked by a writer (it cannot be
    checked; nothing is saved).
    """

    database_path: Path = field(
        metadata={"help": "the QCoDeS database file (any name: .db, .sqlite, ...)"}
    )
    set_up: str = set_up_field()
    static_attributes: dict = field(
        default_factory=dict,
        metadata={"help": "flat JSON object of attributes (text, numbers) for every run"},
    )
    live_timeout_s: float = live_timeout_field(
        600.0, "an unfinished run without new rows for this long is finalized"
    )
    in_memory_limit_mb: float = field(
        default=256.0,
        metadata={
            "help": "runs with more values than this (MiB) are not arranged in memory"
            " (peak ~3x): numeric ones are streamed as flat columns"
        },
    )

    def validate(self) -> None:
        if not (math.isfinite(self.in_memory_limit_mb) and self.in_memory_limit_mb > 0):
            raise ConfigError(
                f"in_memory_limit_mb must be a finite positive number (MiB), got"
                f" {self.in_memory_limit_mb}",
                hint="e.g. --set in_memory_limit_mb=256",
            )
        check_live_timeout(self.live_timeout_s)
        _check_static_attributes(self.static_attributes)
        path = Path(self.database_path).expanduser().resolve()
        if not path.exists():
            raise ConfigError(f"database_path {path} does not exist")
        if not path.is_file():
            raise ConfigError(f"database_path {path} is not a file")
        try:
            validate_database(path, busy_timeout=VALIDATE_BUSY_TIMEOUT_S)
        except QCoDeSDatabaseBusy:
            raise ConfigError(
                f"database_path {path} is locked by another program (a write lock held"
                f" longer than {VALIDATE_BUSY_TIMEOUT_S:.0f} s), so it cannot be checked now",
                hint="nothing was saved: run the command again when that program has"
                " finished writing (a running agent retries an added source by itself)",
            ) from None
        except DatasetError as exc:
            raise ConfigError(exc.message, hint=exc.hint) from None
        self.database_path = path


def _check_static_attributes(attributes: object) -> None:
    """Every run gets these attributes: a flat mapping of names to text, numbers or
    true/false (a nested value or null would otherwise be dropped without a word)."""
    example = 'e.g. --set static_attributes=\'{"cooldown": 3, "fridge": "F2"}\''
    if not isinstance(attributes, dict):
        raise ConfigError("static_attributes must be a JSON object", hint=example)
    for key, value in attributes.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(
                f"static_attributes: {key!r} must be a finite number, got {value}", hint=example
            )
        if not isinstance(value, (str, int, float, bool)):
            kind = "null" if value is None else f"a nested {type(value).__name__}"
            raise ConfigError(
                f"static_attributes: {key!r} is {kind}; only text, numbers and true/false"
                " can be stored as attributes",
                hint=example,
            )
