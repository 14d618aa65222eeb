"""The multipart uploads in progress, kept on disk so that a killed agent resumes them.

A small SQLite file of the agent's own (``<store root>/s3_uploads.db``), opened through
the agent's one engine factory: one row per upload (object key, content sha256, part
size, upload id) and one per completed part (number, ETag, SHA-256 and MD5 of the part).
A part row is committed only after the server has acknowledged the part, so after a
crash every recorded part is on the server (the uploader still checks with
``ListParts``); parts sent but not recorded are simply sent again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from etiket_sync_agent.db.engine import WRITE, DatabaseRole, enable_wal, make_engine, sqlite_url
from etiket_sync_agent.locking import FileLock

ROLE = DatabaseRole(
    what="the S3 upload ledger",
    if_damaged="delete it: unfinished uploads then start again from zero (nothing is lost)",
)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS uploads (
        key TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        part_size INTEGER NOT NULL,
        upload_id TEXT NOT NULL,
        created REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS parts (
        upload_id TEXT NOT NULL,
        number INTEGER NOT NULL,
        etag TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        md5 TEXT NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (upload_id, number)
    )""",
)


@dataclass(frozen=True)
class Part:
    number: int
    etag: str
    sha256: str  # base64, as S3 carries it
    md5: str  # hex
    size: int


@dataclass(frozen=True)
class Upload:
    key: str
    sha256: str
    size: int
    part_size: int
    upload_id: str
    created: float


class UploadLedger:
    """The uploads in progress of one agent home (safe across threads and processes)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.engine = make_engine(sqlite_url(path), ROLE)
        with FileLock(path.with_suffix(".lock")):
            enable_wal(self.engine)
            with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
                for statement in _SCHEMA:
                    conn.execute(text(statement))

    def close(self) -> None:
        self.engine.dispose()

    def find(self, key: str) -> tuple[Upload, list[Part]] | None:
        with self.engine.connect() as conn, conn.begin():
            row = conn.execute(text("SELECT * FROM uploads WHERE key = :k"), {"k": key}).first()
            if row is None:
                return None
            parts = conn.execute(
                text("SELECT number, etag, sha256, md5, size FROM parts WHERE upload_id = :u"),
                {"u": row.upload_id},
            )
            return Upload(**row._asdict()), [Part(*p) for p in parts]

    def start(self, key: str, sha256: str, size: int, part_size: int, upload_id: str) -> None:
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            self._forget(conn, key)
            conn.execute(
                text(
                    "INSERT INTO uploads (key, sha256, size, part_size, upload_id, created) "
                    "VALUES (:k, :s, :n, :p, :u, :t)"
                ),
                {
                    "k": key,
                    "s": sha256,
                    "n": size,
                    "p": part_size,
                    "u": upload_id,
                    "t": time.time(),
                },
            )

    def add_part(self, upload_id: str, part: Part) -> None:
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            conn.execute(
                text(
                    "INSERT OR REPLACE INTO parts (upload_id, number, etag, sha256, md5, size) "
                    "VALUES (:u, :n, :e, :s, :m, :z)"
                ),
                {
                    "u": upload_id,
                    "n": part.number,
                    "e": part.etag,
                    "s": part.sha256,
                    "m": part.md5,
                    "z": part.size,
                },
            )

    def forget(self, key: str) -> None:
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            self._forget(conn, key)

    def all(self) -> list[Upload]:
        with self.engine.connect() as conn, conn.begin():
            return [Upload(**r._asdict()) for r in conn.execute(text("SELECT * FROM uploads"))]

    @staticmethod
    def _forget(conn, key: str) -> None:  # noqa: ANN001 - a SQLAlchemy connection
        ids = conn.execute(text("SELECT upload_id FROM uploads WHERE key = :k"), {"k": key})
        for (upload_id,) in list(ids):
            conn.execute(text("DELETE FROM parts WHERE upload_id = :u"), {"u": upload_id})
        conn.execute(text("DELETE FROM uploads WHERE key = :k"), {"k": key})
