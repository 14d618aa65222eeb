"""What a killed agent leaves behind, swept at the next start under the agent lock.

* in the store: blobs placed but never committed (killed between placing a blob and the
  commit of its catalog row), the old content of a live version whose replacement was
  committed just before the kill, temp files of uploads in ``store/tmp``
  (:meth:`LocalStore.gc`, safe while other processes use the store);
* in the spool (``<home>/spool``, :mod:`etiket_sync_agent.engine.spool`): the converted
  files kept for items that no longer exist (their source was removed) or that are
  synchronized by now;
* in the system temp folder: ``etiket-sync-<pid>-*`` scratch folders of processes that
  are gone (see :func:`etiket_sync_agent.plugins.context.scratch_prefix`), and older
  ``etiket-sync-*`` folders without a pid that nothing touched for a day.

Nothing here may stop the start: a failure is logged and recorded in the summary.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from etiket_sync_agent.errors import StateDBError, error_line
from etiket_sync_agent.locking import process_alive
from etiket_sync_agent.plugins.context import SCRATCH_PREFIX

if TYPE_CHECKING:
    from etiket_sync_agent.runtime import Runtime

logger = logging.getLogger(__name__)

#: temp files and pid-less scratch folders untouched for this long are leftovers
STALE_AFTER_S = 24 * 3600.0


@dataclass
class SweepSummary:
    """What :func:`sweep_at_start` removed (and what it could not do)."""

    blobs_removed: int = 0
    tmp_removed: int = 0
    scratch_removed: int = 0
    spool_removed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return self.blobs_removed + self.tmp_removed + self.scratch_removed + self.spool_removed

    def __str__(self) -> str:
        text = (
            f"{self.blobs_removed} unreferenced blob(s), {self.tmp_removed} store temp "
            f"file(s), {self.scratch_removed} scratch folder(s), {self.spool_removed} orphaned "
            "spool folder(s) removed"
        )
        return text + (f"; {len(self.errors)} error(s)" if self.errors else "")


def sweep_at_start(rt: Runtime, *, stale_after: float = STALE_AFTER_S) -> SweepSummary:
    """Remove the leftovers of killed agents (see the module docstring); call it with the
    agent lock held, before the loop starts.

    Raises only :class:`StateDBError` — the store's catalog is damaged or newer than this
    code, and the agent must not start on it (exit code 5); anything else it meets is
    logged and listed in the summary's ``errors``.
    """
    summary = SweepSummary()
    try:
        gc = getattr(rt.store, "gc", None)  # the local store has it; others keep their own
        if gc is not None:
            done = gc(tmp_older_than=stale_after)
            summary.blobs_removed = done.get("blobs_removed", 0)
            summary.tmp_removed = done.get("tmp_removed", 0)
    except StateDBError:
        raise
    except Exception as exc:  # noqa: BLE001 - a sweep must never stop the start
        summary.errors.append(f"store: {error_line(exc)}")
    try:
        summary.spool_removed = sweep_spool(rt)
    except Exception as exc:  # noqa: BLE001 - e.g. a busy state DB: next start
        summary.errors.append(f"spool: {error_line(exc)}")
    try:
        summary.scratch_removed = sweep_scratch(stale_after=stale_after)
    except OSError as exc:
        summary.errors.append(f"scratch folders: {exc}")
    if summary.removed:
        logger.info("start-up sweep: %s", summary)
    for err in summary.errors:
        logger.warning("start-up sweep: %s", err)
    return summary


def sweep_spool(rt: Runtime) -> int:
    """Remove the spool folders of items that no longer exist (their source was removed)
    or are synchronized; returns how many."""
    from etiket_sync_agent.engine import spool
    from etiket_sync_agent.state import repository as repo

    if not rt.home.spool_dir.is_dir():
        return 0
    return spool.sweep(rt.home.spool_dir, repo.unsynchronized_item_ids(rt.state))


def sweep_scratch(temp_dir: Path | None = None, *, stale_after: float = STALE_AFTER_S) -> int:
    """Remove scratch folders of dead processes from ``temp_dir`` (the system temp
    folder by default); returns how many were removed."""
    root = Path(temp_dir or tempfile.gettempdir())
    removed = 0
    for entry in os.scandir(root):
        if not entry.name.startswith(SCRATCH_PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        if _is_leftover(Path(entry.path), entry.name[len(SCRATCH_PREFIX) :], stale_after):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += not os.path.lexists(entry.path)
    return removed


def _is_leftover(folder: Path, rest: str, stale_after: float) -> bool:
    pid, sep, _ = rest.partition("-")
    if sep and pid.isdigit():
        return not process_alive(int(pid))
    # no pid in the name (older versions, other tools' folders): only when long untouched
    try:
        newest = max(
            [folder.lstat().st_mtime]
            + [e.stat(follow_symlinks=False).st_mtime for e in os.scandir(folder)]
        )
    except OSError:
        return False
    return time.time() - newest > stale_after
