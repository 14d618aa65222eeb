"""Where the agent keeps its state: one :class:`Home` per process.

By default the platformdirs user data and log dirs of app ``etiket_sync_agent``;
``ETIKET_SYNC_HOME=<dir>`` (or ``etiket-sync --home DIR``) puts everything under one folder.
Nothing else is created: the agent has no configuration folder (sources live in the
state database).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from etiket_sync_agent.errors import ConfigError

APP_NAME = "etiket_sync_agent"
HOME_ENV = "ETIKET_SYNC_HOME"


@dataclass(frozen=True)
class Home:
    data_dir: Path
    log_dir: Path

    @classmethod
    def resolve(cls, override: str | os.PathLike[str] | None = None) -> Home:
        """The home for ``override``, else ``$ETIKET_SYNC_HOME``, else platformdirs."""
        root = override or os.environ.get(HOME_ENV)
        if root:
            base = Path(root).expanduser().resolve()
            return cls(data_dir=base, log_dir=base / "logs")
        import platformdirs

        return cls(
            data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
        )

    @property
    def state_db(self) -> Path:
        return self.data_dir / "state.db"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    @property
    def spool_dir(self) -> Path:
        """Converted files of items that wait for an unreachable store (offline-first)."""
        return self.data_dir / "spool"

    @property
    def lock_file(self) -> Path:
        return self.data_dir / "agent.lock"

    @property
    def demo_dir(self) -> Path:
        return self.data_dir / "demo"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "etiket-sync.log"

    def ensure(self) -> Home:
        """Create the home's folders; ConfigError (one line) if they cannot be used."""
        for d in (self.data_dir, self.log_dir):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _unusable(d, exc.strerror or str(exc)) from None
            if not d.is_dir():
                raise _unusable(d, "it is not a folder")
            if not os.access(d, os.W_OK | os.X_OK):
                raise _unusable(d, "it is not writable")
        return self


def _unusable(path: Path, why: str) -> ConfigError:
    return ConfigError(
        f"cannot keep the agent's state in {path}: {why}",
        hint=f"pass --home a folder you can write to (or set {HOME_ENV})",
    )
