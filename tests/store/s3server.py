"""A real S3-compatible server for the tests: moto's server mode on 127.0.0.1.

Fake credentials are put in the environment of this process only while the server runs
(boto3 finds them through its standard chain, as an agent would find real ones), and
handed to subprocesses through :func:`s3_env`.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing-key-id",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def client(self) -> Any:
        import boto3

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name="us-east-1"
        )

    def new_bucket(self) -> str:
        name = f"etiket-test-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_s3_server() -> Iterator[S3Server]:
    """Start moto on 127.0.0.1 and a free port; fake credentials in os.environ meanwhile."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in FAKE_CREDENTIALS}
    os.environ.update(FAKE_CREDENTIALS)
    server = None
    try:
        for attempt in range(5):  # the port may be taken between probing and binding
            port = _free_port()
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            try:
                server.start()
                break
            except OSError:
                server = None
                if attempt == 4:
                    raise
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        if server is not None:
            server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def s3_env(server: S3Server) -> dict[str, str]:
    """The environment a subprocess needs to reach the test server."""
    return {**os.environ, **FAKE_CREDENTIALS}
