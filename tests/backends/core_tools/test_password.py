"""The database password never appears in any output, log file, record - nor in the state
database when a keyring holds it; without a keyring, `sources show` says where it is."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from etiket_sync_agent.home import Home
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services import sources, status
from tests.backends.core_tools import ct_writer as ctw
from tests.backends.core_tools.conftest import add_ct_source

keyring = pytest.importorskip("keyring")

FILE_KEYRING = "tests.backends.core_tools._file_keyring.FileKeyring"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def test_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    from tests.backends.core_tools._file_keyring import FileKeyring

    store = tmp_path / "keyring.json"
    monkeypatch.setenv("ETIKET_TEST_KEYRING", str(store))
    before = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    try:
        yield {
            "PYTHON_KEYRING_BACKEND": FILE_KEYRING,
            "ETIKET_TEST_KEYRING": str(store),
            "PYTHONPATH": str(REPO),
        }
    finally:
        keyring.set_keyring(before)


def _outputs(cli, env: dict[str, str], ct_uuid: int, every: bool) -> list[str]:  # noqa: ANN001
    """The CLI's outputs (each call is a new process: a few, to keep the test fast)."""
    out = []
    commands = [("run", "--once"), ("sources", "show", "ct")]
    if every:
        commands += [("item", "ct", str(ct_uuid), "--json")]
    for args in commands:
        proc = cli(*args, check=False, extra_env=env)
        assert proc.returncode in (0, 1), (args, proc.stdout, proc.stderr)
        out += [proc.stdout, proc.stderr]
    return out


def _files(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _scenario(  # noqa: ANN001
    cli, env: dict[str, str], ct_db: str, rt: Runtime, password: str, every: bool = True
) -> list[str]:
    """Two sources with the password (one whose database then disappears), a measurement
    that fails and one that synchronizes; returns every output shown."""
    w = ctw.Writer(ct_db)
    good = w.complete("good", ctw.one_d("x", 10))
    bad = w.complete("bad", ctw.one_d("x", 10))
    w.close()
    with ctw.admin(ct_db) as conn:
        conn.execute("SELECT lo_unlink(%s)", (bad.arrays[0].oid,))
    outs = [repr(add_ct_source(rt, ct_db, password=password, auto_scope_per_project=True))]
    gone = ctw.create_database("ct_gone")
    ctw.apply_schema(gone)
    outs.append(repr(add_ct_source(rt, gone, name="gone", password=password)))
    ctw.drop_database(gone)  # the second source now fails to connect
    outs += _outputs(cli, env, good.uuid, every)
    # the run happened: one item synchronized, one failed, one source error
    assert sorted(i["status"] for i in sources.list_items(rt, "ct")) == ["failed", "synchronized"]
    assert "cannot connect" in sources.show_source(rt, "gone")["last_error"]
    outs += [repr(sources.list_items(rt, "ct")), repr(status.status(rt))]
    outs += [
        repr(sources.show_item(rt, "ct", str(bad.uuid))),
        repr(sources.show_source(rt, "gone")),
    ]
    return outs


def test_password_in_keyring_is_nowhere_else(
    cli, home: Home, runtime: Runtime, ct_db: str, test_keyring: dict[str, str]
) -> None:
    password = f"pw-{secrets.token_hex(8)}"
    outs = _scenario(cli, test_keyring, ct_db, runtime, password)
    for text in outs:
        assert password not in text
    shown = sources.show_source(runtime, "ct")
    assert shown["config"]["password"] == "***"
    assert shown["config"]["login_stored_in"] == "OS keyring"
    files = _files(home.data_dir) | _files(home.log_dir)
    assert any(p.suffix == ".log" for p in files) and any("state" in p.name for p in files)
    for path, data in files.items():
        assert password.encode() not in data, f"password found in {path}"
    assert password in Path(test_keyring["ETIKET_TEST_KEYRING"]).read_text()


def test_without_keyring_sources_show_says_plain_text(
    cli, home: Home, runtime: Runtime, ct_db: str
) -> None:
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    password = f"pw-{secrets.token_hex(8)}"
    before = keyring.get_keyring()
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())
    try:
        outs = _scenario(cli, env, ct_db, runtime, password, every=False)
    finally:
        keyring.set_keyring(before)
    for text in outs:
        assert password not in text
    shown = sources.show_source(runtime, "ct")
    assert shown["config"]["password"] == "***"
    assert "plain text in the state database" in shown["config"]["login_stored_in"]
    assert any("plain text in the state database" in text for text in outs)  # sources show
    for path, data in _files(home.log_dir).items():
        assert password.encode() not in data, f"password found in {path}"


def test_sources_edit_replaces_the_password_in_the_keyring(
    runtime: Runtime, ct_db: str, test_keyring: dict[str, str]
) -> None:
    from etiket_sync_agent.state import repository as repo

    store = Path(test_keyring["ETIKET_TEST_KEYRING"])
    add_ct_source(runtime, ct_db, password="first-pw")
    stored = repo.get_source(runtime.state, "ct").config
    assert stored["password"] not in ("", "first-pw") and "first-pw" in store.read_text()
    sources.edit_source(runtime, "ct", {"live_timeout_s": "30"})  # the password stays
    assert "first-pw" in store.read_text()
    sources.edit_source(runtime, "ct", {"password": "second-pw"})
    text = store.read_text()
    assert "second-pw" in text and "first-pw" not in text
    config = repo.get_source(runtime.state, "ct").config
    assert "second-pw" not in repr(config) and config["live_timeout_s"] == 30
    assert sources.show_source(runtime, "ct")["config"]["login_stored_in"] == "OS keyring"
    # the agent logs in with the keyring's password
    from etiket_sync_agent.backends.core_tools import CoreToolsBackend, CoreToolsConfig
    from etiket_sync_agent.plugins.config import build_config

    backend = CoreToolsBackend(build_config(CoreToolsConfig, config), "ct")
    assert backend.db.params.password() == "second-pw"
    assert backend.get_new_datasets(None) == []
    backend.close()
