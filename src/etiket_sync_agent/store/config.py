"""Which store an agent writes to: ``<home>/store.json``, overridden by the environment.

The file holds the catalog URL and the bucket settings, never a credential: a catalog URL
carrying a password is refused (use ``~/.pgpass`` or ``PGPASSWORD``), and S3 credentials
come only from the standard AWS chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE``, the shared credentials file...). Each field's environment variable, when
set (even to an empty string, which clears the field), takes precedence over the file:

========================  ==============================  =======================
field                     environment variable            default
========================  ==============================  =======================
``catalog_url``           ``ETIKET_SYNC_STORE_URL``       ``<home>/store/catalog.db``
``s3_bucket``             ``ETIKET_SYNC_S3_BUCKET``       none: blobs in ``<home>/store``
``s3_endpoint_url``       ``ETIKET_SYNC_S3_ENDPOINT_URL`` AWS
``s3_prefix``             ``ETIKET_SYNC_S3_PREFIX``       none
``s3_region``             ``ETIKET_SYNC_S3_REGION``       the AWS chain's
``s3_checksum``           ``ETIKET_SYNC_S3_CHECKSUM``     ``sha256``
========================  ==============================  =======================
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from etiket_sync_agent.errors import ConfigError

if TYPE_CHECKING:
    from etiket_sync_agent.home import Home
    from etiket_sync_agent.store.s3 import S3Settings

CONFIG_NAME = "store.json"
ENV = {
    "catalog_url": "ETIKET_SYNC_STORE_URL",
    "s3_bucket": "ETIKET_SYNC_S3_BUCKET",
    "s3_endpoint_url": "ETIKET_SYNC_S3_ENDPOINT_URL",
    "s3_prefix": "ETIKET_SYNC_S3_PREFIX",
    "s3_region": "ETIKET_SYNC_S3_REGION",
    "s3_checksum": "ETIKET_SYNC_S3_CHECKSUM",
}


@dataclass(frozen=True)
class StoreConfig:
    """Where the catalog and the blobs are (no credentials). Empty strings mean unset."""

    catalog_url: str | None = None
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_prefix: str | None = None
    s3_region: str | None = None
    s3_checksum: str | None = None

    def normalized(self) -> StoreConfig:
        """Empty strings as None, surrounding blanks removed."""
        values = {
            k: (v.strip() or None) if isinstance(v, str) else v for k, v in asdict(self).items()
        }
        return StoreConfig(**values)

    def s3_settings(self) -> S3Settings | None:
        """The bucket settings, or None when the blobs stay in the home's folder."""
        if not self.s3_bucket:
            return None
        from etiket_sync_agent.store.s3.settings import S3Settings

        return S3Settings(
            bucket=self.s3_bucket,
            prefix=self.s3_prefix or "",
            endpoint_url=self.s3_endpoint_url,
            region=self.s3_region,
            checksum=self.s3_checksum or "sha256",
        )

    def check(self, *, to_save: bool = False) -> StoreConfig:
        """Validate: a database URL, S3 options only with a bucket, a known checksum
        mode; ``to_save``: also no password in the catalog URL (one given through the
        environment is used, never written)."""
        if self.catalog_url:
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError

            try:
                url = make_url(self.catalog_url)
            except ArgumentError:
                raise ConfigError(
                    "the catalog URL is not a database URL",
                    hint="e.g. postgresql+psycopg://user@host/dbname",
                ) from None
            if to_save and url.password:
                raise ConfigError(
                    "the catalog URL carries a password; passwords are never stored",
                    hint="remove it from the URL and put it in ~/.pgpass (or $PGPASSWORD)",
                )
        s3_only = ("s3_endpoint_url", "s3_prefix", "s3_region", "s3_checksum")
        if not self.s3_bucket and any(getattr(self, k) for k in s3_only):
            raise ConfigError("S3 options were given without a bucket", hint="add --s3-bucket")
        self.s3_settings()  # checks the checksum mode
        return self

    def as_json(self) -> dict[str, str]:
        """The fields that are set."""
        return {k: v for k, v in asdict(self).items() if v}


def config_path(home: Home) -> Path:
    return home.data_dir / CONFIG_NAME


def read_saved(home: Home) -> StoreConfig:
    """The configuration saved in the home (all unset when there is none)."""
    path = config_path(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return StoreConfig()
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the store configuration {path}: {exc}",
            hint="fix or delete it, then run `etiket-sync store configure`",
        ) from None
    known = {f.name for f in fields(StoreConfig)}
    if not isinstance(data, dict) or not set(data) <= known:
        raise ConfigError(
            f"the store configuration {path} has unknown entries",
            hint="run `etiket-sync store configure` again",
        )
    return StoreConfig(**{k: str(v) for k, v in data.items() if v is not None}).normalized()


def effective(
    home: Home, environ: Mapping[str, str] | None = None
) -> tuple[StoreConfig, dict[str, str]]:
    """The configuration in force and, per field, where it came from (``env``, ``file``,
    ``default``). The environment wins over the file."""
    environ = os.environ if environ is None else environ
    config = read_saved(home)
    origins = {k: "file" if getattr(config, k) else "default" for k in ENV}
    overrides = {}
    for key, var in ENV.items():
        if var in environ:
            overrides[key] = environ[var]
            origins[key] = "env" if environ[var].strip() else "default"
    return replace(config, **overrides).normalized(), origins


def save(home: Home, config: StoreConfig) -> Path:
    """Write ``config`` (checked) to the home atomically; returns the path."""
    config.check(to_save=True)
    path = config_path(home)
    tmp = path.with_name(f".{CONFIG_NAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(config.as_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
