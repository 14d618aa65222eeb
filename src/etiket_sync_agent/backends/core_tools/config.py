"""The config of a core-tools source (drives add-source, validation and display)."""

from __future__ import annotations

from dataclasses import dataclass, field

from etiket_sync_agent.errors import ConfigError


@dataclass
class CoreToolsConfig:
    dbname: str = field(metadata={"help": "name of the core-tools PostgreSQL database"})
    user: str = field(metadata={"help": "database user (read access is enough)"})
    password: str = field(
        default="",
        metadata={
            "secret": True,
            "help": "database password (kept in the OS keyring when there is one; never shown)",
        },
    )
    host: str = field(default="localhost", metadata={"help": "database server"})
    port: int = field(default=5432, metadata={"help": "database server port"})
    set_up: str = field(
        default="", metadata={"help": "only measurements of this set-up (empty: all)"}
    )
    live_timeout_s: float = field(
        default=600.0,
        metadata={
            "help": "an unfinished measurement whose write cursors did not move for this "
            "long is finalized"
        },
    )
    auto_scope_per_project: bool = field(
        default=False,
        metadata={
            "help": "create a store scope (named like the scope identifier, e.g. "
            "CT_PROJECT_<project>) for identifiers without a mapping, instead of waiting "
            "for `etiket-sync scopes map`"
        },
    )
    login_stored_in: str = field(
        default="",
        metadata={"help": "set by the agent: where the password is stored"},
    )

    def validate(self) -> None:
        """Static checks only; the connection and schema are checked by
        :meth:`CoreToolsBackend.source_identity` when the source is added or edited."""
        self.dbname, self.user, self.host = (
            str(self.dbname).strip(),
            str(self.user).strip(),
            str(self.host).strip() or "localhost",
        )
        if not self.dbname:
            raise ConfigError("dbname must not be empty")
        if not self.user:
            raise ConfigError("user must not be empty")
        if not 0 < int(self.port) < 65536:
            raise ConfigError(f"port must be between 1 and 65535, got {self.port}")
        if self.live_timeout_s < 0:
            raise ConfigError(f"live_timeout_s must not be negative, got {self.live_timeout_s}")
