"""A real server (uvicorn in a thread, 127.0.0.1, a free port) over a home with
synchronized folderbase datasets and one failed item."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.web.server import RunningServer, start_in_thread
from tests.conftest import FAST
from tests.helpers import add_folder_source, make_dataset, run_once

PAYLOAD = bytes(range(256)) * 64 + b"end"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):  # noqa: ANN201
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Client:
    """Raw HTTP (http.client: the path is sent exactly as given, never normalized)."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.origin = server.url

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> Reply:
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def get(self, path: str, **headers: str) -> Reply:
        return self.request("GET", path, headers=headers)


@pytest.fixture
def lab(tmp_path: Path, runtime: Runtime) -> Runtime:
    """Two good datasets (one tagged, one with a binary file), one with broken YAML."""
    root = tmp_path / "acq"
    make_dataset(
        root,
        "run1",
        {"data.txt": "one\n"},
        name="first run",
        tags=["cooldown"],
        attributes={"sample": "A7"},
        collected=datetime(2025, 1, 2, 12, 0),
    )
    make_dataset(root, "run2", {"sub/blob.bin": PAYLOAD, "notes.csv": "a,b\n1,2\n"}, name="second")
    bad = make_dataset(root, "broken", {"x.txt": "x\n"})
    (bad / "_QH_dataset_info.yaml").write_text("dataset_name: [unclosed\n")
    add_folder_source(runtime, root)
    run_once(runtime, FAST)
    return runtime


@pytest.fixture
def served(lab: Runtime) -> Iterator[Client]:
    server = start_in_thread(lambda: Runtime(lab.home))
    try:
        yield Client(server)
    finally:
        server.stop()
