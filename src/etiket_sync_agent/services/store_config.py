"""The store an agent writes to: configure it (checked before saving), describe it, and
verify that its catalog and blobs agree.

Service functions over :mod:`etiket_sync_agent.store.config`; the CLI
(``etiket-sync store configure|info``) only renders what they return. Nothing here prints
or returns a credential: catalog URLs are shown with their password blanked, and S3
credentials are only named by where the AWS chain found them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from etiket_sync_agent.errors import error_line

if TYPE_CHECKING:
    from etiket_sync_agent.home import Home
    from etiket_sync_agent.runtime import Runtime


def configure_store(
    home: Home,
    *,
    catalog_url: str | None = None,
    s3_bucket: str | None = None,
    s3_endpoint_url: str | None = None,
    s3_prefix: str | None = None,
    s3_region: str | None = None,
    s3_checksum: str | None = None,
) -> dict[str, Any]:
    """Check the given store, then save it as the home's ``store.json``.

    Checked first, and nothing saved when a check fails (ConfigError / StoreError): the
    options are consistent and hold no password; the catalog database can be reached and
    is migrated to the current schema (opening it migrates it); the bucket accepts a write,
    a read-back and a delete. Unset options mean the local default (the SQLite catalog,
    the blob folder). Returns what was saved (as :func:`store_info` shows it) and the path.
    """
    from etiket_sync_agent.store import config as cfg

    config = cfg.StoreConfig(
        catalog_url=catalog_url,
        s3_bucket=s3_bucket,
        s3_endpoint_url=s3_endpoint_url,
        s3_prefix=s3_prefix,
        s3_region=s3_region,
        s3_checksum=s3_checksum,
    ).normalized()
    config.check(to_save=True)
    _check_reachable(home, config, write_probe=True)
    path = cfg.save(home, config)
    return {"saved": str(path), "config": _shown(config)}


def store_info(rt: Runtime) -> dict[str, Any]:
    """What the agent writes to, where each setting came from, and whether it can reach
    the catalog and the blobs (``ok`` and ``error`` per part; nothing raises)."""
    from etiket_sync_agent.store import config as cfg

    config, origins = cfg.effective(rt.home)
    info: dict[str, Any] = {
        "config_file": str(cfg.config_path(rt.home)),
        "config": _shown(config),
        "origins": origins,
        "catalog": {"kind": "postgresql" if _is_pg(config) else "sqlite"},
        "blobs": {"kind": "s3" if config.s3_bucket else "local"},
    }
    try:
        store = rt.store
    except Exception as exc:  # noqa: BLE001 - reported, never raised
        info["catalog"].update(ok=False, error=error_line(exc))
        info["blobs"].update(ok=None, error="not checked: the store could not be opened")
        return info
    info["catalog"].update(url=store.catalog, ok=True, error=None)
    blobs = store.blobs
    info["blobs"]["where"] = blobs.describe()
    if config.s3_bucket:
        info["blobs"]["credentials"] = _credential_source()
    try:
        check = getattr(blobs, "check_reachable", None)
        if check is not None:
            check()
        info["blobs"].update(ok=True, error=None)
    except Exception as exc:  # noqa: BLE001 - reported, never raised
        info["blobs"].update(ok=False, error=error_line(exc))
    return info


def verify_store(rt: Runtime, *, deep: bool = False) -> dict[str, Any]:
    """Check that every file version of the catalog has its content in the blob storage;
    ``deep`` also re-hashes every content. Read-only, safe while agents sync. The report
    lists each problem by dataset, file and version (see ``LocalStore.verify``)."""
    return rt.store.verify(deep=deep)


def gc_store(rt: Runtime, *, dry_run: bool = False, grace_s: float = 24 * 3600) -> dict[str, Any]:
    """Remove contents no file version refers to, temp files of dead processes or older
    than ``grace_s``, and abandoned multipart uploads (see ``LocalStore.gc``); never what
    a running agent is writing. ``dry_run`` only counts. Returns the counts."""
    done = rt.store.gc(tmp_older_than=grace_s, dry_run=dry_run)
    return {**done, "dry_run": dry_run, "where": rt.store.blobs.describe()}


def _check_reachable(home: Home, config: Any, *, write_probe: bool) -> None:
    """Open (and so migrate) the catalog; write a probe object to the bucket."""
    from etiket_sync_agent.store.local.transactions import Catalog

    home.store_dir.mkdir(parents=True, exist_ok=True)
    Catalog(home.store_dir, config.catalog_url).close()
    settings = config.s3_settings()
    if settings is not None:
        from etiket_sync_agent.store.s3 import S3BlobStorage

        storage = S3BlobStorage(settings, home.store_dir)
        try:
            storage.check_writable() if write_probe else storage.check_reachable()
        finally:
            storage.close()


def _shown(config: Any) -> dict[str, str]:
    from etiket_sync_agent.plugins.config import redact_text

    return {k: redact_text(v) for k, v in config.as_json().items()}


def _is_pg(config: Any) -> bool:
    return bool(config.catalog_url) and config.catalog_url.startswith("postgres")


def _credential_source() -> str | None:
    """Where the AWS chain finds credentials ("env", "shared-credentials-file", ...), or
    None when it finds none. The credentials themselves are never returned."""
    try:
        import boto3

        credentials = boto3.session.Session().get_credentials()
    except Exception:  # noqa: BLE001 - informational only
        return None
    return None if credentials is None else credentials.method
