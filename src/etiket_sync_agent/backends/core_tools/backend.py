"""The core_tools backend: one dataset per measurement of a core-tools database, live while
it is being measured, its scope chosen by the measurement (mapped per source)."""

from __future__ import annotations

import ipaddress
import socket
import time
from typing import TYPE_CHECKING

from etiket_sync_agent.backends.core_tools import password_store
from etiket_sync_agent.backends.core_tools.config import CoreToolsConfig
from etiket_sync_agent.backends.core_tools.metadata import dataset_fields
from etiket_sync_agent.backends.core_tools.reader import (
    ConnectionParams,
    CoreToolsConnectionError,
    Database,
    LiveCache,
    Schema,
    ScopeMappingMissing,
    detect_schema,
    fingerprints,
    list_after,
    progress,
    read_measurement,
    write_measurement,
)
from etiket_sync_agent.backends.core_tools.reader.schema import check_access
from etiket_sync_agent.errors import ConfigError, EtiketSyncError
from etiket_sync_agent.plugins.base import DatabaseBackend
from etiket_sync_agent.plugins.context import HDF5_NETCDF
from etiket_sync_agent.plugins.items import NewItem, ScopeRequirement, SyncItem

if TYPE_CHECKING:
    from etiket_sync_agent.plugins.context import SyncContext

GENERATOR = "etiket_sync_agent.core_tools"
DATA_FILE = "measured_data.hdf5"
#: how long a detected schema is trusted (a database may be upgraded while we run)
SCHEMA_TTL_S = 60.0
#: values of one live measurement kept between live passes (bigger ones are re-read)
LIVE_CACHE_BYTES = 256 * 2**20


def _server_name(host: str) -> str:
    """``host`` as an identity: every name of this machine is ``localhost``, other names
    resolve to their (first) address, so one server is recognized under two names."""
    host = host.strip().lower()
    if host.startswith("/"):
        return "localhost"  # a unix-socket directory
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return host
    addresses = sorted({info[4][0] for info in infos})
    if not addresses:
        return host
    if all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        return "localhost"
    return addresses[0]


class CoreToolsBackend(DatabaseBackend):
    sync_agent_name = "core_tools"
    config_class = CoreToolsConfig
    scope_requirement = ScopeRequirement.DISABLED
    supports_scope_mapping = True
    live_sync_implemented = True

    config: CoreToolsConfig

    def __init__(self, config: CoreToolsConfig, source_name: str = "") -> None:
        super().__init__(config, source_name)
        c = config
        self._key = password_store.key_for(c.user, c.host, int(c.port), c.dbname)
        self.db = Database(
            ConnectionParams(c.host, int(c.port), c.dbname, c.user, password=self._password)
        )
        self._schema: Schema | None = None
        self._schema_at = 0.0
        #: identifier -> (sum of write cursors, when it last changed)
        self._progress: dict[str, tuple[int, float]] = {}
        self._live: LiveCache | None = None

    # -- the password -----------------------------------------------------------------
    def _password(self) -> str | None:
        if self.config.password != password_store.KEYRING_MARK:
            return self.config.password or None
        password = password_store.fetch(self._key)
        if password is None:
            raise CoreToolsConnectionError(
                f"the password of source {self.source_name!r} is not in the OS keyring",
                hint=f"set it again: `etiket-sync sources edit {self.source_name} "
                "--set password=...`",
            )
        return password

    def _store_password(self) -> None:
        """Move a newly given password into the OS keyring if there is one; note where
        it is kept in ``login_stored_in`` (shown by ``sources show``)."""
        c = self.config
        if not c.password:
            c.login_stored_in = ""
        elif c.password == password_store.KEYRING_MARK:
            c.login_stored_in = password_store.IN_KEYRING
        elif password_store.store(self._key, c.password):
            c.password, c.login_stored_in = password_store.KEYRING_MARK, password_store.IN_KEYRING
        else:
            c.login_stored_in = password_store.IN_STATE_DB

    # -- validation and identity ------------------------------------------------------
    def where(self) -> str:
        c = self.config
        return f"database {c.dbname!r} on {c.host}:{c.port}"

    def source_identity(self) -> str:
        """Connects read-only and checks that the database holds a core-tools schema
        (ConfigError otherwise); then keeps the password (see ``password_store``).
        Returns ``core_tools:<server>:<port>/<dbname>``: the same database on the same
        server cannot be added twice, whatever host name reaches it."""
        try:
            with self.db.transaction() as cur:
                schema = detect_schema(cur)
                check_access(cur, schema)
        except EtiketSyncError as exc:
            raise ConfigError(exc.message, hint=exc.hint) from None
        finally:
            self.db.close()
        self._schema = schema
        self._store_password()
        c = self.config
        return f"core_tools:{_server_name(c.host)}:{int(c.port)}/{c.dbname}"

    def schema(self, cur: object) -> Schema:
        now = time.monotonic()
        if self._schema is None or now - self._schema_at > SCHEMA_TTL_S:
            self._schema, self._schema_at = detect_schema(cur), now
        return self._schema

    # -- discovery --------------------------------------------------------------------
    def get_new_datasets(self, last_item: SyncItem | None) -> list[NewItem]:
        after = int(last_item.priority) if last_item else 0
        with self.db.transaction() as cur:
            rows = list_after(cur, self.schema(cur), after, self.config.set_up or None)
        return [
            NewItem(
                str(r.uuid),
                priority=float(r.id),
                scope_identifier=r.scope_identifier,
                label=str(r.id),
                name=r.name or None,
            )
            for r in rows
        ]

    def dataset_fingerprints(self) -> dict[str, str]:
        """Digest of each measurement's name, star, keywords and completion: a star or a
        new name given later reaches the store."""
        with self.db.transaction() as cur:
            return fingerprints(cur, self.schema(cur), self.config.set_up or None)

    def check_live_dataset(self, item: SyncItem) -> bool:
        with self.db.transaction() as cur:
            state = progress(cur, self.schema(cur), int(item.identifier))
        if state is None or state[0]:
            self._progress.pop(item.identifier, None)
            return False
        cursors = state[1]
        now = time.monotonic()
        seen = self._progress.get(item.identifier)
        if seen is None or seen[0] != cursors:
            self._progress[item.identifier] = (cursors, now)
            return True
        # the cursors have not moved: live until the writer has been quiet too long
        return now - seen[1] < self.config.live_timeout_s

    # -- synchronizing ----------------------------------------------------------------
    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        self._sync(item, ctx, live=False)

    def sync_dataset_live(self, item: SyncItem, ctx: SyncContext) -> None:
        self._sync(item, ctx, live=True)

    def _check_scope(self, item: SyncItem) -> None:
        ident = item.scope_identifier
        if ident and item.scope == ident and not self.config.auto_scope_per_project:
            raise ScopeMappingMissing(
                f"waiting for a scope mapping: no store scope is mapped to {ident!r}",
                hint=f"`etiket-sync scopes map {item.source_name} {ident} SCOPE`, or set "
                "auto_scope_per_project=true on the source",
            )

    def _sync(self, item: SyncItem, ctx: SyncContext, live: bool) -> None:
        self._check_scope(item)
        uuid = int(item.identifier)
        with ctx.scratch_dir() as tmp:
            # read everything first: a connection lost half-way stores nothing
            with ctx.task("read measurement and write NetCDF"), self.db.transaction() as cur:
                meas = read_measurement(cur, self.schema(cur), uuid)
                live = live and not meas.completed
                cache = None
                if live:
                    if self._live is None or self._live.uuid != uuid:
                        self._live = LiveCache(uuid, LIVE_CACHE_BYTES)
                    cache = self._live
                elif self._live is not None and self._live.uuid == uuid:
                    self._live = None
                out = write_measurement(cur, meas, tmp / DATA_FILE, cache=cache)
            fields = dataset_fields(meas, self.where())
            with ctx.task("create dataset"):
                # after reading: a connection lost half-way leaves nothing in the store
                ctx.save_dataset(fields)
            with ctx.task("upload"):
                ctx.upload_file(
                    out, name=DATA_FILE, file_type=HDF5_NETCDF, generator=GENERATOR, live=live
                )

    def creates_scopes_for_unmapped(self) -> bool:
        """Whether an item whose scope identifier has no mapping may go to a new scope of
        that name (``auto_scope_per_project``); otherwise it waits for a mapping."""
        return bool(self.config.auto_scope_per_project)

    def close(self) -> None:
        self._live = None
        self.db.close()
