"""Secrets never reach an output: ``sources show``/``list``, ``status``, ``items``,
``item``, the log file, error lines, each as text and ``--json``.

The plugin holding the secrets is installed the way users install plugins (a
distribution with an entry point on the path), so the real CLI finds it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from etiket_sync_agent.plugins.config import REDACTED, redact, redact_text, secret_values
from tests.conftest import REPO

SECRETS = ("Pg-Secret-1", "Url-Secret-2", "Nested-Secret-3", "Field-Secret-4", "Quoted Secret5")
SETTINGS = (
    "dsn=host=db.lab port=5432 password=Pg-Secret-1 user=lab",
    "url=postgresql://lab:Url-Secret-2@db.lab:5432/x",
    "access=Field-Secret-4",
    'options={"auth": {"user": "lab", "password": "Nested-Secret-3"},'
    ' "conn": "host=h password=\'Quoted Secret5\' sslmode=require"}',
)


@pytest.fixture
def vault_env(tmp_path: Path) -> dict[str, str]:
    """PYTHONPATH with a distribution registering the ``vault`` test backend."""
    site = tmp_path / "site"
    dist = site / "vault_test_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vault-test-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[etiket_sync_agent.connectors]\nvault = tests.security._vault_backend:VaultBackend\n"
    )
    path = os.pathsep.join([str(site), str(REPO), os.environ.get("PYTHONPATH", "")])
    return {"PYTHONPATH": path}


def _clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked in {where}:\n{text}"


def test_no_output_path_shows_a_secret(cli, home, vault_env) -> None:
    def run(*args: str, **kw):
        return cli(*args, extra_env=vault_env, **kw)

    run("scopes", "create", "proj")
    sets = [a for s in SETTINGS for a in ("--set", s)]
    _clean(run("add-source", "vault", "vault", "--scope", "proj", *sets).stdout, "add-source")
    run("add-source", "vault", "down", "--scope", "proj", *sets, "--set", "fail_discovery=true")
    proc = run("run", "--once", "-v")
    _clean(proc.stdout + proc.stderr, "run --once")

    outputs = {
        " ".join(args): run(*args).stdout
        for args in (
            ("sources", "show", "vault"),
            ("sources", "show", "vault", "--json"),
            ("status",),
            ("status", "--json"),
            ("items", "vault"),
            ("items", "vault", "--json"),
            ("item", "vault", "run1"),
            ("item", "vault", "run1", "--json"),
            ("item", "vault", "run2", "--json"),
        )
    }
    for where, text in outputs.items():
        _clean(text, where)
    # what is shown instead: the rest of each value, the errors with the secrets blanked
    shown = json.loads(outputs["sources show vault --json"])
    assert shown["config"]["access"] == REDACTED
    assert shown["config"]["dsn"] == f"host=db.lab port=5432 password={REDACTED} user=lab"
    assert shown["config"]["url"] == f"postgresql://lab:{REDACTED}@db.lab:5432/x"
    assert shown["config"]["options"]["auth"] == {"user": "lab", "password": REDACTED}
    items = {i["identifier"]: i for i in json.loads(outputs["items vault --json"])}
    assert items["run1"]["status"] == items["run2"]["status"] == "failed"
    assert f"connection to host=db.lab port=5432 password={REDACTED}" in items["run1"]["last_error"]
    assert f"key {REDACTED}, auth {REDACTED}" in items["run2"]["last_error"]
    (down,) = [s for s in json.loads(outputs["status --json"])["sources"] if s["name"] == "down"]
    assert down["last_error"] and f"password={REDACTED}" in down["last_error"]
    assert "connecting with host=db.lab" in outputs["item vault run1 --json"]  # the record
    log = home.log_file.read_text(encoding="utf-8")
    assert "run1" in log and "down" in log
    _clean(log, "the log file")
    # a refused edit's error line does not echo the secrets of the config either
    bad = run("sources", "edit", "vault", "--set", "options=[1]", check=False)
    assert bad.returncode == 2 and "expected a JSON object" in bad.stderr
    _clean(bad.stdout + bad.stderr, "an error line")


def test_redact_covers_nested_values_connection_strings_and_urls() -> None:
    values = {
        "password": "p1",
        "dsn": "host=h dbname=d password=p2 user=u",
        "quoted": "host=h password='p 3' port=1",
        "url": "https://user:p4@example.org/path?token=p5&x=1",
        "nested": {"inner": {"api_key": "p6", "ok": "visible"}, "list": ["s3://k:p7@bucket"]},
        "limit": float("inf"),
        "plain": "visible too",
    }
    out = redact(None, values)
    text = json.dumps(out, allow_nan=False)
    for secret in ("p1", "p2", "p 3", "p4", "p5", "p6", "p7"):
        assert f'{secret}"' not in text and f"{secret}@" not in text and f"={secret}" not in text
    assert out["dsn"] == "host=h dbname=d password=*** user=u"
    assert out["url"] == "https://user:***@example.org/path?token=***&x=1"
    assert out["nested"]["inner"] == {"api_key": "***", "ok": "visible"}
    assert out["limit"] == "inf" and out["plain"] == "visible too"
    assert values["password"] == "p1"  # a copy: the stored config is untouched
    # free text: a file called secret.bin is not a secret
    assert redact_text("cannot read secret.bin: Permission denied") == (
        "cannot read secret.bin: Permission denied"
    )
    assert redact_text("failed: hunter22 rejected", ["hunter22"]) == "failed: *** rejected"
    assert secret_values({"a": {"password": "x1y"}, "b": "no"}) == ["x1y"]
