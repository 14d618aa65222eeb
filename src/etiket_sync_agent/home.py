"""Where the agent keeps its state: one :class:`Home` per process.

By default the platformdirs user data/config/log dirs of app ``etiket_sync_agent``;
``ETIKET_SYNC_HOME=<dir>`` (or ``etiket-sync --home DIR``) puts everything under one folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "etiket_sync_agent"
HOME_ENV = "ETIKET_SYNC_HOME"


@dataclass(frozen=True)
class Home:
    data_dir: Path
    config_dir: Path
    log_dir: Path

    @classmethod
    def resolve(cls, override: str | os.PathLike[str] | None = None) -> Home:
        """The home for ``override``, else ``$ETIKET_SYNC_HOME``, else platformdirs."""
        root = override or os.environ.get(HOME_ENV)
        if root:
            base = Path(root).expanduser().resolve()
            return cls(data_dir=base, config_dir=base / "config", log_dir=base / "logs")
        import platformdirs

        return cls(
            data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
        )

    @property
    def state_db(self) -> Path:
        return self.data_dir / "state.db"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

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
        for d in (self.data_dir, self.config_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self
