"""Logging to a rotating file in the home's log folder."""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler

from etiket_sync_agent.home import Home

_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


def setup_logging(home: Home, level: int = logging.INFO, console: bool = False) -> None:
    """Send the package's logs to ``home.log_file`` (5 x 5 MB); idempotent."""
    root = logging.getLogger("etiket_sync_agent")
    root.setLevel(level)
    target = str(home.log_file)
    if not any(getattr(h, "baseFilename", None) == target for h in root.handlers):
        home.log_dir.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(target, maxBytes=5_000_000, backupCount=5, encoding="utf-8")
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    if console and not any(type(h) is logging.StreamHandler for h in root.handlers):
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(stream)
