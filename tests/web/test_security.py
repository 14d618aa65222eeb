"""Security of the web page over real HTTP: path traversal gets 404 everywhere, a
non-local bind needs a token and requests without it get 401, no secret is shown."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from etiket_sync_agent.errors import ConfigError
from etiket_sync_agent.plugins.registry import GROUPS, Registry
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.web.server import choose_token, start_in_thread
from tests.conftest import FAST
from tests.helpers import run_once, wait_for
from tests.security.test_redaction import SECRETS, SETTINGS
from tests.web.conftest import Client

TRAVERSALS = (
    "..",
    "../..",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%2f..%2fstate.db",
    "%2fetc%2fpasswd",
    "/etc/passwd",
    "....//....//etc/passwd",
    "..%5c..%5cstate.db",
)


def test_traversal_in_any_parameter_is_404(served, lab) -> None:
    uuid = lab.store.list_datasets()[0].uuid
    real = lab.store.get_dataset(uuid).files[0].name
    assert served.get(f"/files/{uuid}/{quote(real)}").status == 200
    for t in TRAVERSALS:
        for path in (
            f"/files/{t}/data.txt",
            f"/files/{uuid}/{t}",
            f"/files/{uuid}/{t}/state.db",
            f"/files/{uuid}/{t}/{real}",
            f"/files/{uuid}/x/{t}/{real}",
            f"/files/{uuid}%2f{t}/{real}",
            f"/files/{uuid}/sub/{t}/data.txt",
            f"/api/datasets/{t}",
            f"/datasets/{t}",
            f"/api/sources/{t}/items",
            f"/api/sources/lab/items/{t}",
            f"/static/{t}/state.db",
            f"/static/{t}/web/app.py",
            f"/api/datasets?scope={t}",
            f"/api/datasets?source={t}",
            f"/api/sources/lab/items/{t}%2fstate.db",
        ):
            r = served.get(path)
            assert r.status == 404, (path, r.status, r.text[:200])
            assert b"SQLite format" not in r.body and b"root:" not in r.body
    # the store's own layout is no way in either: only catalog names are served
    store_files = [p for p in lab.home.store_dir.rglob("*") if p.is_file()]
    assert store_files
    for p in store_files[:5]:
        rel = p.relative_to(lab.home.store_dir).as_posix()
        assert served.get(f"/files/{uuid}/{quote(rel)}").status == 404


def _vault_registry() -> Registry:
    from importlib.metadata import EntryPoint, entry_points

    eps = [ep for g in GROUPS for ep in entry_points(group=g)]
    eps.append(
        EntryPoint(
            "vault", "tests.security._vault_backend:VaultBackend", "etiket_sync_agent.connectors"
        )
    )
    return Registry(eps)


def test_no_response_contains_a_secret(tmp_path: Path, home) -> None:
    from etiket_sync_agent.services import sources

    rt = Runtime(home, registry=_vault_registry())
    rt.store.create_scope("proj")
    settings = dict(s.split("=", 1) for s in SETTINGS)
    settings["options"] = __import__("json").loads(settings["options"])
    sources.add_source(rt, "vault", "vault", scope="proj", settings=settings)
    sources.add_source(
        rt, "vault", "down", scope="proj", settings=settings | {"fail_discovery": True}
    )
    run_once(rt, FAST)
    server = start_in_thread(lambda: Runtime(home, registry=_vault_registry()))
    try:
        c = Client(server)
        paths = ["/", "/problems", "/datasets", "/api/status", "/api/sources", "/api/scopes"]
        paths += ["/api/datasets", "/api/sources/vault", "/api/sources/down"]
        for name in ("vault", "down"):
            for it in c.get(f"/api/sources/{name}/items").json():
                paths += [f"/api/sources/{name}/items/{quote(it['identifier'], safe='')}"]
        for d in c.get("/api/datasets").json():
            paths += [f"/datasets/{d['uuid']}", f"/api/datasets/{d['uuid']}"]
        seen = 0
        for path in paths:
            r = c.get(path)
            assert r.status == 200, (path, r.status)
            for secret in SECRETS:
                assert secret not in r.text, f"{secret!r} leaked in {path}"
            seen += 1
        assert seen > 9
        assert "down" in c.get("/problems").text  # the source in error is listed
    finally:
        server.stop()
        rt.close()


def test_token_required_when_given(served, lab) -> None:
    token = "t0ken-" + "x" * 30
    server = start_in_thread(lambda: Runtime(lab.home), token=token)
    try:
        c = Client(server)
        for path in (
            "/",
            "/api/status",
            "/problems",
            f"/files/{lab.store.list_datasets()[0].uuid}/data.txt",
        ):
            r = c.get(path)
            assert r.status == 401, path
            assert token not in r.text
        assert c.get("/api/status", Authorization="Bearer wrong").status == 401
        assert c.get("/api/status", Authorization=f"Bearer {token}").status == 200
        assert c.get("/", Cookie=f"etiket_token={token}").status == 200
        login = c.request(
            "POST",
            "/login?next=/problems",
            f"token={token}".encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert login.status == 303 and login.headers["location"] == "/problems"
        assert "httponly" in login.headers["set-cookie"].lower()
    finally:
        server.stop()


def test_non_local_bind_needs_a_token(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs an access token"):
        choose_token("0.0.0.0", tmp_path, None)
    assert choose_token("127.0.0.1", tmp_path, None).token is None
    made = choose_token("0.0.0.0", tmp_path, None, create=True)
    assert made.created and made.token and len(made.token) >= 32
    assert stat.S_IMODE(os.stat(made.path).st_mode) == 0o600
    again = choose_token("192.168.1.2", tmp_path, None)
    assert again.token == made.token and not again.created  # shown only once
    given = tmp_path / "given"
    given.write_text("short\n")
    with pytest.raises(ConfigError, match="at least 16"):
        choose_token("0.0.0.0", tmp_path, given)


SERVE = (
    "import sys; from etiket_sync_agent.cli.app import app, invoke; "
    "from etiket_sync_agent.cli.web_cmd import register; register(app); "
    "invoke(app, sys.argv[1:], 'etiket-sync')"
)


def test_serve_command(tmp_path: Path, home) -> None:
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir)}
    refused = subprocess.run(
        [sys.executable, "-c", SERVE, "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error:") and "needs an access token" in lines[0]
    assert "Traceback" not in refused.stderr

    token_file = tmp_path / "token"
    token = "file-token-" + "y" * 30
    token_file.write_text(token + "\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, "serve", "--port", "0", "--token-file", str(token_file)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        out: list[str] = []
        assert wait_for(lambda: _read_line(proc, out) and "Serving on" in out[-1], 60), out
        url = out[-1].split("http://", 1)[1].split("/", 1)[0]
        host, port = url.rsplit(":", 1)
        import http.client

        def get(headers: dict) -> int:
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            conn.request("GET", "/api/status", headers=headers)
            return conn.getresponse().status

        assert get({}) == 401
        assert get({"Authorization": f"Bearer {token}"}) == 200
        assert token not in "".join(out)
    finally:
        proc.terminate()
        proc.wait(30)


def _read_line(proc: subprocess.Popen, out: list[str]) -> bool:
    if proc.poll() is not None:
        time.sleep(0.1)
    line = proc.stdout.readline()
    if line:
        out.append(line.rstrip())
    return bool(out)


def test_foreign_host_name_is_refused_without_a_token(served) -> None:
    """DNS rebinding: a page of another site whose name points at 127.0.0.1."""
    assert served.get("/api/status", Host="evil.example:8765").status == 403
    assert served.get("/", Host="evil.example").status == 403
    assert served.get("/api/status", Host=f"localhost:{served.server.port}").status == 200
    assert served.get("/api/status", Host=f"127.0.0.1:{served.server.port}").status == 200
