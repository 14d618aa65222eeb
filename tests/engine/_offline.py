"""Parts of the offline tests: a TCP proxy the test cuts and restores (the network between
the agent and its store), a converter that counts its calls, and the engine in a thread."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from etiket_sync_agent.engine.events import Event, null_reporter
from etiket_sync_agent.engine.loop import SyncEngine
from etiket_sync_agent.engine.retry_policy import RetryPolicy
from etiket_sync_agent.engine.settings import EngineSettings
from etiket_sync_agent.plugins.converter import FileConverter
from etiket_sync_agent.plugins.registry import CONVERTER_GROUP, GROUPS, Registry
from etiket_sync_agent.runtime import Runtime
from tests.conftest import FAST

#: where CountingConverter appends one line per call (set by the test)
CALLS_ENV = "ETIKET_TEST_CONVERTER_CALLS"

#: the engine's timings in these tests: the store is probed again after 0.2 s, at most 1 s
OFFLINE = EngineSettings(
    **{
        **{f: getattr(FAST, f) for f in FAST.__dataclass_fields__ if f != "retry"},
        "retry": RetryPolicy(
            max_attempts=3, base_delay_s=0.0, store_probe_base_s=0.2, store_probe_max_s=1.0
        ),
    }
)


class CountingConverter(FileConverter):
    """``.dat`` -> ``.conv``: the bytes reversed; every call is counted in a file."""

    input_type = ".dat"
    output_type = ".conv"

    def convert(self, input_path: Path, output_dir: Path) -> Path:
        with open(os.environ[CALLS_ENV], "a", encoding="utf-8") as fh:
            fh.write(f"{input_path}\n")
        out = output_dir / (input_path.stem + ".conv")
        out.write_bytes(input_path.read_bytes()[::-1])
        return out


def conversions(calls_file: Path) -> list[str]:
    if not calls_file.exists():
        return []
    return calls_file.read_text(encoding="utf-8").splitlines()


def registry_with_counter() -> Registry:
    eps = [ep for g in GROUPS for ep in entry_points(group=g)]
    eps.append(EntryPoint("counting", f"{__name__}:CountingConverter", CONVERTER_GROUP))
    return Registry(eps)


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; :meth:`cut` closes the listener and
    every connection (the network is gone: connections are refused), :meth:`restore`
    listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.restore()

    def restore(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self._listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


class EngineThread:
    """The sync loop running in a thread (the engine of ``etiket-sync run``)."""

    def __init__(self, rt: Runtime, reporter=null_reporter) -> None:  # noqa: ANN001
        self.events: list[Event] = []

        def report(ev: Event) -> None:
            self.events.append(ev)
            reporter(ev)

        self.engine = SyncEngine(rt, OFFLINE, report)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="engine", daemon=True)

    def _run(self) -> None:
        try:
            self.engine.run()
        except BaseException as exc:  # noqa: BLE001 - the test asserts on it
            self.error = exc

    def __enter__(self) -> EngineThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.stop()
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), "the sync loop did not stop"
        assert self.error is None, self.error
