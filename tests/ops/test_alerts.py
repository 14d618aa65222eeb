"""Alerts: a webhook and an SMTP server on 127.0.0.1 receive the expected messages when a
real source fails and recovers; grouping, rate limiting, digest, redaction; a failing
target never affects syncing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from etiket_sync_agent.errors import ConfigError
from etiket_sync_agent.ops.alerts import targets
from etiket_sync_agent.ops.alerts.notifier import Notifier
from etiket_sync_agent.ops.runner import start_ops
from etiket_sync_agent.ops.snapshot import failed_for_good
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services.status import loop_state
from tests.conftest import ETIKET_SYNC, FAST
from tests.helpers import (
    add_folder_source,
    item_status,
    make_dataset,
    run_once,
    running_engine,
    wait_for,
)
from tests.ops.receivers import mail_text, smtp_server, webhook

BROKEN = "dataset_name: [unclosed\nattributes: 3\n"


def _break(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "_QH_dataset_info.yaml").write_text(BROKEN)
    return folder


def _sync_until(rt: Runtime, predicate) -> None:  # noqa: ANN001
    assert wait_for(lambda: run_once(rt, FAST) is not None and predicate(), timeout=60)


def test_a_failed_item_and_its_recovery_reach_webhook_and_mail(
    runtime: Runtime, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    make_dataset(root, "good")
    bad = _break(root, "bad")
    add_folder_source(runtime, root)
    with webhook() as (hook, posts), smtp_server() as (mail, mails):
        targets.add_target(runtime.home, hook)
        targets.add_target(runtime.home, mail)
        targets.set_settings(runtime.home, {"min_interval_s": 0})
        notifier = Notifier(runtime)
        assert notifier.check() == []  # nothing wrong yet
        _sync_until(runtime, lambda: len(failed_for_good(runtime)) == 1)
        sent = notifier.check()
        assert len(sent) == 1 and all(r["ok"] for r in sent[0]["results"])
        assert len(posts) == 1 and wait_for(lambda: len(mails) == 1)
        assert posts[0]["type"] == "failure"
        assert "1 problem" in posts[0]["title"]
        assert "1 item of source lab failed for good" in posts[0]["message"]
        assert "bad" in posts[0]["message"]
        text = mail_text(mails[0])
        assert "1 problem" in text and "1 item of source lab failed for good" in text
        assert notifier.check() == []  # told once, not at every check
        (bad / "_QH_dataset_info.yaml").write_text("dataset_name: fixed\n")
        _sync_until(runtime, lambda: item_status(runtime, "bad") == "synchronized")
        sent = notifier.check()
        assert len(posts) == 2 and wait_for(lambda: len(mails) == 2)
        assert "1 recovered" in posts[1]["title"] and posts[1]["type"] == "success"
        assert "RECOVERED: no items of source lab are failed any more" in posts[1]["message"]
        assert "RECOVERED" in mail_text(mails[1])


def test_a_source_in_error_and_its_recovery(runtime: Runtime, tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_dataset(root, "a")
    add_folder_source(runtime, root)
    run_once(runtime, FAST)
    with webhook() as (hook, posts):
        targets.add_target(runtime.home, hook)
        targets.set_settings(runtime.home, {"min_interval_s": 0})
        notifier = Notifier(runtime)
        root.rename(tmp_path / "away")  # the share is gone
        run_once(runtime, FAST)
        notifier.check()
        assert len(posts) == 1
        assert "PROBLEM: source lab is in error" in posts[0]["message"]
        (tmp_path / "away").rename(root)
        run_once(runtime, FAST)
        notifier.check()
        assert len(posts) == 2
        assert "RECOVERED: source lab is in error" in posts[1]["message"]


def test_a_killed_agent_is_reported_and_its_restart_too(
    runtime: Runtime, tmp_path: Path, home
) -> None:
    root = tmp_path / "data"
    make_dataset(root, "a")
    add_folder_source(runtime, root)
    env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir)}

    def agent() -> subprocess.Popen:
        proc = subprocess.Popen(
            [ETIKET_SYNC, "run", "--quiet"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for(lambda: loop_state(runtime)["state"] == "running", timeout=60)
        return proc

    with webhook() as (hook, posts):
        targets.add_target(runtime.home, hook)
        targets.set_settings(runtime.home, {"min_interval_s": 0})
        notifier = Notifier(runtime)  # as `alerts watch` runs it: another process
        proc = agent()
        try:
            assert notifier.check() == []
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            notifier.check()
            assert len(posts) == 1
            assert "PROBLEM: the sync loop is stopped (process gone)" in posts[0]["message"]
            proc = agent()
            notifier.check()
            assert len(posts) == 2
            assert "RECOVERED: the sync loop is stopped" in posts[1]["message"]
        finally:
            proc.terminate()
            proc.wait(60)


def test_an_unreachable_store_is_reported_after_the_set_time(
    home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a real PostgreSQL catalog URL on a port where nothing listens
    monkeypatch.setenv("ETIKET_SYNC_STORE_URL", "postgresql+psycopg://postgres@127.0.0.1:9/x")
    rt = Runtime(home)
    try:
        with webhook() as (hook, posts):
            targets.add_target(home, hook)
            targets.set_settings(home, {"min_interval_s": 0, "store_unreachable_after_s": 600})
            notifier = Notifier(rt)
            t0 = datetime.now(timezone.utc)
            notifier.check(now=t0)
            notifier.check(now=t0 + timedelta(seconds=300))
            assert posts == []  # not yet: unreachable for less than the set time
            notifier.check(now=t0 + timedelta(seconds=601))
            assert len(posts) == 1
            assert "the dataset store has been unreachable for 10 min" in posts[0]["message"]
            monkeypatch.delenv("ETIKET_SYNC_STORE_URL")  # the local store answers
            notifier.check(now=t0 + timedelta(seconds=700))
            assert len(posts) == 2 and "RECOVERED: the dataset store" in posts[1]["message"]
    finally:
        rt.close()


def test_many_failed_items_make_one_message(runtime: Runtime, tmp_path: Path) -> None:
    root = tmp_path / "data"
    for i in range(60):
        _break(root, f"bad{i:02d}")
    add_folder_source(runtime, root)
    _sync_until(runtime, lambda: len(failed_for_good(runtime)) == 60)
    with webhook() as (hook, posts):
        targets.add_target(runtime.home, hook)
        targets.set_settings(runtime.home, {"min_interval_s": 0})
        Notifier(runtime).check()
    assert len(posts) == 1
    body = posts[0]["message"]
    assert "60 items of source lab failed for good" in body
    assert "... and 55 more" in body
    assert len(body.splitlines()) < 12


def test_rate_limit_groups_what_happens_meanwhile(runtime: Runtime, tmp_path: Path) -> None:
    home = runtime.home
    with webhook() as (hook, posts):
        targets.add_target(home, hook)
        targets.set_settings(home, {"min_interval_s": 3600, "disk_free_below": 1.0})
        notifier = Notifier(runtime)
        t0 = datetime.now(timezone.utc)
        notifier.check(now=t0)  # the disk "nearly full": sent at once
        assert len(posts) == 1 and "nearly full" in posts[0]["message"]
        targets.set_settings(home, {"disk_free_below": 0.0})
        notifier.check(now=t0 + timedelta(seconds=10))  # recovered: waits
        targets.set_settings(home, {"disk_free_below": 1.0})
        notifier.check(now=t0 + timedelta(seconds=20))  # full again: waits
        assert len(posts) == 1
        notifier.check(now=t0 + timedelta(seconds=3601))
        assert len(posts) == 2
        assert "1 problem, 1 recovered" in posts[1]["title"]
        lines = posts[1]["message"].splitlines()
        assert lines[0].startswith("RECOVERED: the disk") and lines[1].startswith(
            "PROBLEM: the disk"
        )
        notifier.check(now=t0 + timedelta(seconds=7300))
        assert len(posts) == 2  # nothing new


def test_a_waiting_dataset_is_reported(runtime: Runtime, tmp_path: Path) -> None:
    from etiket_sync_agent.state import repository as repo

    root = tmp_path / "data"
    make_dataset(root, "waiting")
    add_folder_source(runtime, root)
    src = repo.get_source(runtime.state, "lab")
    repo.record_discovery(runtime.state, src.id, [repo.Discovered("waiting")], {})
    with webhook() as (hook, posts):
        targets.add_target(runtime.home, hook)
        targets.set_settings(runtime.home, {"min_interval_s": 0, "pending_after_s": 3600})
        notifier = Notifier(runtime)
        notifier.check()
        assert posts == []
        notifier.check(now=datetime.now(timezone.utc) + timedelta(hours=2))
        assert "source lab: a dataset has waited" in posts[0]["message"]
        run_once(runtime, FAST)
        notifier.check(now=datetime.now(timezone.utc) + timedelta(hours=2))
        assert "RECOVERED: source lab: a dataset has waited" in posts[1]["message"]


def test_daily_digest_once_a_day(runtime: Runtime) -> None:
    with webhook() as (hook, posts):
        targets.add_target(runtime.home, hook)
        targets.set_settings(runtime.home, {"digest_hour": 0})
        notifier = Notifier(runtime)
        notifier.check()
        notifier.check()
        assert [p["title"].endswith("daily digest") for p in posts] == [True]
        assert "Open problems: none." in posts[0]["message"]


def test_a_failing_target_never_affects_syncing(runtime: Runtime, tmp_path: Path) -> None:
    root = tmp_path / "data"
    for i in range(5):
        make_dataset(root, f"ds{i}")
    _break(root, "bad")
    add_folder_source(runtime, root)
    with webhook() as (hook, posts):
        targets.add_target(runtime.home, "json://127.0.0.1:9/nobody-listens")
        targets.add_target(runtime.home, hook)
        targets.set_settings(runtime.home, {"min_interval_s": 0, "check_every_s": 0.2})
        ops = start_ops(runtime)  # as `etiket-sync run` starts it, beside the loop
        try:
            with running_engine(runtime, FAST):
                assert wait_for(
                    lambda: all(item_status(runtime, f"ds{i}") == "synchronized" for i in range(5))
                )
                assert wait_for(lambda: any("failed for good" in p["message"] for p in posts))
        finally:
            ops.stop()


def test_cli_keeps_urls_secret(ops_cli, home) -> None:
    secret_url = "json://user:s3cretpw@127.0.0.1:9/hook/TOKEN123"
    out = ops_cli("alerts", "add", secret_url, "--json", as_json=True)
    assert out == {**out, "id": 1, "url": "json://user:***@127.0.0.1:9/***"}
    listed = ops_cli("alerts", "list").stdout + ops_cli("alerts", "list", "--json").stdout
    tested = ops_cli("alerts", "test", code=1).stdout
    for text in (listed, tested):
        assert "s3cretpw" not in text and "TOKEN123" not in text
    assert "FAILED" in tested
    path = home.data_dir / "alerts.json"
    assert path.stat().st_mode & 0o077 == 0  # only the user reads it
    ops_cli("alerts", "remove", "1")
    assert ops_cli("alerts", "list", "--json", as_json=True)["targets"] == []


def test_bad_urls_and_settings_are_refused(ops_cli, home) -> None:
    with pytest.raises(ConfigError, match="not a notification URL"):
        ops_cli("alerts", "add", "nonsense://x")
    with pytest.raises(ConfigError, match="unknown alert setting"):
        ops_cli("alerts", "set", "nope=1")
    with pytest.raises(ConfigError):
        ops_cli("alerts", "set", "digest_hour=25")
    assert not (home.data_dir / "alerts.json").exists()


def test_alerts_cli_imports_nothing_heavy() -> None:
    code = (
        "import sys, etiket_sync_agent.cli.ops_cmd;"
        "bad = [m for m in ('apprise', 'prometheus_client', 'sqlalchemy') if m in sys.modules];"
        "print(bad); sys.exit(bool(bad))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_alerts_watch_checks_from_its_own_command(ops_cli, home) -> None:
    with webhook() as (hook, posts):
        ops_cli("alerts", "add", hook)
        ops_cli("alerts", "set", "min_interval_s=0", "disk_free_below=1")
        out = ops_cli("alerts", "watch", "--once").stdout
        assert "1 problem" in out
        assert len(posts) == 1 and "nearly full" in posts[0]["message"]
        assert ops_cli("alerts", "watch", "--once").stdout == ""  # told once


def test_two_checkers_of_one_home_tell_once(runtime: Runtime, home) -> None:
    """The agent's notifier and `alerts watch` (another process) share the alert state."""
    with webhook() as (hook, posts):
        targets.add_target(home, hook)
        targets.set_settings(home, {"min_interval_s": 0, "disk_free_below": 1.0})
        env = {**os.environ, "ETIKET_SYNC_HOME": str(home.data_dir)}
        code = (
            "from etiket_sync_agent.home import Home;"
            "from etiket_sync_agent.runtime import Runtime;"
            "from etiket_sync_agent.ops.alerts.notifier import Notifier;"
            "import sys; rt = Runtime(Home.resolve()); print(len(Notifier(rt).check()))"
        )
        procs = [
            subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE)
            for _ in range(3)
        ]
        outs = sorted(p.communicate(timeout=120)[0].decode().strip() for p in procs)
        assert outs == ["0", "0", "1"]
        assert len(posts) == 1
