"""The store configuration in the home: environment over ``store.json``, checks before
saving, ``store info`` with secrets redacted; on a real PostgreSQL and S3 server."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from etiket_sync_agent.cli.store_cmd import store_app
from etiket_sync_agent.errors import ConfigError, StoreError
from etiket_sync_agent.home import Home
from etiket_sync_agent.runtime import Runtime
from etiket_sync_agent.services.store_config import configure_store, store_info
from etiket_sync_agent.store import config as cfg
from etiket_sync_agent.store.factory import open_store
from etiket_sync_agent.store.interface import DatasetSpec
from etiket_sync_agent.store.s3 import S3BlobStorage
from tests.store.s3server import FAKE_CREDENTIALS, S3Server

ENV_VARS = list(cfg.ENV.values())


@pytest.fixture(autouse=True)
def _no_store_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def test_environment_takes_precedence_over_the_file(home: Home) -> None:
    home.ensure()
    cfg.save(home, cfg.StoreConfig(catalog_url="sqlite:////tmp/x.db", s3_bucket="lab"))
    env = {"ETIKET_SYNC_S3_BUCKET": "other", "ETIKET_SYNC_S3_PREFIX": "pc1"}
    config, origins = cfg.effective(home, env)
    assert (config.catalog_url, config.s3_bucket, config.s3_prefix) == (
        "sqlite:////tmp/x.db",
        "other",
        "pc1",
    )
    assert origins["catalog_url"] == "file" and origins["s3_bucket"] == "env"
    assert origins["s3_region"] == "default"
    # an empty variable clears the saved value
    config, origins = cfg.effective(home, {"ETIKET_SYNC_S3_BUCKET": ""})
    assert config.s3_bucket is None and origins["s3_bucket"] == "default"


def test_passwords_and_inconsistent_options_are_never_saved(home: Home) -> None:
    home.ensure()
    with pytest.raises(ConfigError, match="password"):
        configure_store(home, catalog_url="postgresql+psycopg://u:hunter22@127.0.0.1:1/db")
    with pytest.raises(ConfigError, match="without a bucket"):
        configure_store(home, s3_prefix="lab")
    with pytest.raises(ConfigError, match="checksum"):
        configure_store(home, s3_bucket="b", s3_checksum="crc")
    assert not cfg.config_path(home).exists()


def test_unreachable_catalog_or_bucket_saves_nothing(
    home: Home, s3_server: S3Server, make_pg_database: Callable[[], str]
) -> None:
    home.ensure()
    with pytest.raises(StoreError, match="catalog"):
        configure_store(home, catalog_url="postgresql+psycopg://postgres@127.0.0.1:1/nodb")
    with pytest.raises(StoreError, match="no-such-bucket"):
        configure_store(
            home,
            catalog_url=make_pg_database(),
            s3_bucket="no-such-bucket",
            s3_endpoint_url=s3_server.endpoint_url,
        )
    assert not cfg.config_path(home).exists()


def test_configured_shared_store_is_what_the_agent_opens(
    home: Home, s3_server: S3Server, make_pg_database: Callable[[], str]
) -> None:
    home.ensure()
    url, bucket = make_pg_database(), s3_server.new_bucket()
    done = configure_store(
        home, catalog_url=url, s3_bucket=bucket, s3_endpoint_url=s3_server.endpoint_url
    )
    saved = json.loads(cfg.config_path(home).read_text())
    assert saved == {
        "catalog_url": url,
        "s3_bucket": bucket,
        "s3_endpoint_url": s3_server.endpoint_url,
    }
    assert done["config"] == saved
    assert not any(v in cfg.config_path(home).read_text() for v in FAKE_CREDENTIALS.values())
    store = open_store(home)
    try:
        assert isinstance(store.blobs, S3BlobStorage) and store.catalog == url
        store.create_scope("lab")
        uuid = store.upsert_dataset(DatasetSpec(uuid="d1", scope="lab", name="n")).uuid
        sha = store.upload_file(uuid, "a.txt", io.BytesIO(b"in the bucket")).version.sha256
        keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
        assert keys == [f"blobs/{sha[:2]}/{sha}"]  # the probe object was removed
        assert not (home.store_dir / "blobs").exists() or not any(
            (home.store_dir / "blobs").iterdir()
        )
    finally:
        store.close()


def test_store_info_redacts_and_reports_reachability(
    home: Home,
    s3_server: S3Server,
    make_pg_database: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # trust auth accepts any password: a URL with one, from the environment, works
    url = make_pg_database().replace("postgres@", "postgres:s3cr3tpw@")
    bucket = s3_server.new_bucket()
    monkeypatch.setenv("ETIKET_SYNC_STORE_URL", url)
    monkeypatch.setenv("ETIKET_SYNC_S3_BUCKET", bucket)
    monkeypatch.setenv("ETIKET_SYNC_S3_ENDPOINT_URL", s3_server.endpoint_url)
    rt = Runtime(home)
    try:
        info = store_info(rt)
    finally:
        rt.close()
    text = json.dumps(info)
    assert "s3cr3tpw" not in text
    assert not any(v in text for v in FAKE_CREDENTIALS.values() if len(v) > 9)
    assert info["catalog"]["ok"] and info["blobs"]["ok"], info
    assert info["origins"]["catalog_url"] == "env" and info["blobs"]["kind"] == "s3"
    assert info["blobs"]["credentials"] == "env"

    monkeypatch.setenv("ETIKET_SYNC_S3_BUCKET", "gone-bucket")
    rt = Runtime(home)
    try:
        info = store_info(rt)
    finally:
        rt.close()
    assert info["catalog"]["ok"] and info["blobs"]["ok"] is False
    assert "gone-bucket" in info["blobs"]["error"]


def test_cli_configure_then_info(
    home: Home, s3_server: S3Server, make_pg_database: Callable[[], str]
) -> None:
    runner = CliRunner()
    url, bucket = make_pg_database(), s3_server.new_bucket()
    args = ["configure", "--catalog-url", url, "--s3-bucket", bucket]
    args += ["--s3-endpoint-url", s3_server.endpoint_url, "--s3-prefix", "lab/", "--json"]
    done = runner.invoke(store_app, args)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["config"]["s3_prefix"] == "lab/"
    shown = runner.invoke(store_app, ["info", "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["blobs"]["where"] == f"s3://{bucket}/lab/ at {s3_server.endpoint_url}"
    text = runner.invoke(store_app, ["info"])
    assert text.exit_code == 0 and "reachable" in text.output, text.output
    Path(home.data_dir / "store.json").write_text(
        json.dumps(
            {"catalog_url": url, "s3_bucket": "gone", "s3_endpoint_url": s3_server.endpoint_url}
        )
    )
    broken = runner.invoke(store_app, ["info", "--json"])
    assert broken.exit_code == 1 and json.loads(broken.output)["blobs"]["ok"] is False


def test_cli_verify_exit_code_and_report(home: Home, runtime: Runtime) -> None:
    store = runtime.store
    store.create_scope("lab")
    uuid = store.upsert_dataset(DatasetSpec(uuid="d1", scope="lab", name="n")).uuid
    store.upload_file(uuid, "a.txt", io.BytesIO(b"one"))
    lost = store.upload_file(uuid, "b.txt", io.BytesIO(b"two")).version.sha256
    runner = CliRunner()
    ok = runner.invoke(store_app, ["verify", "--deep"])
    assert ok.exit_code == 0 and "No problem found" in ok.output, ok.output
    store.blobs.delete(lost)
    bad = runner.invoke(store_app, ["verify", "--json"])
    assert bad.exit_code == 1, bad.output
    (problem,) = json.loads(bad.output)["problems"]
    assert (problem["dataset"], problem["file"], problem["problem"]) == ("d1", "b.txt", "missing")
    text = runner.invoke(store_app, ["verify"])
    assert text.exit_code == 1 and "missing" in text.output and "b.txt" in text.output


def test_cli_gc_dry_run_then_gc(home: Home, runtime: Runtime) -> None:
    store = runtime.store
    store.create_scope("lab")
    uuid = store.upsert_dataset(DatasetSpec(uuid="d1", scope="lab", name="n")).uuid
    store.upload_file(uuid, "a.txt", io.BytesIO(b"one"))
    store.blobs.put(io.BytesIO(b"nobody refers to this"))
    runner = CliRunner()
    dry = runner.invoke(store_app, ["gc", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["blobs_removed"] == 1 and len(set(store.blobs.iter_blobs())) == 2
    done = runner.invoke(store_app, ["gc"])
    assert done.exit_code == 0 and "Removed 1 unreferenced" in done.output, done.output
    assert len(set(store.blobs.iter_blobs())) == 1
