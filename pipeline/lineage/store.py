"""Where ML Metadata lives, named by one string, and how to open it.

    outputs/metadata.db              a SQLite file (the default; read-only for lineage)
    mysql://USER@HOST:PORT/DB        MySQL or MariaDB (also mysql://USER@/DB?socket=PATH)
    postgresql://USER@HOST:PORT/DB   PostgreSQL
    grpc://HOST:PORT                 Kubeflow's metadata-grpc-service (kubectl port-forward)

The password of a database server comes only from the environment variable MLMD_PASSWORD:
never from the URL, so that it is not stored in shell history, run summaries or MLMD, and
never printed. Every failure is a `StoreError`: one line that names the target without it.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
from pathlib import Path

from ml_metadata import errors as mlmd_errors
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

DEFAULT_TARGET = "outputs/metadata.db"
PASSWORD_ENV = "MLMD_PASSWORD"
DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432, "grpc": 8080}
SCHEMES = {
    "mysql": "mysql",
    "mariadb": "mysql",
    "postgresql": "postgresql",
    "postgres": "postgresql",
}
GRPC_TIMEOUT_SECONDS = 10.0

Config = metadata_store_pb2.ConnectionConfig | metadata_store_pb2.MetadataStoreClientConfig


class StoreError(ValueError):
    """ML Metadata cannot be reached as named; the message is one line, without secrets."""


@dataclasses.dataclass(frozen=True)
class Target:
    """A parsed store name. Holds no password: that is read from the environment when
    a connection config is built, and only put into the config itself."""

    kind: str  # sqlite | mysql | postgresql | grpc
    path: str = ""  # sqlite
    host: str = ""
    port: int = 0
    user: str = ""
    database: str = ""
    socket: str = ""  # mysql only, instead of host and port

    def __str__(self) -> str:
        """How messages name the store: the URL as given, minus any password."""
        if self.kind == "sqlite":
            return self.path
        if self.kind == "grpc":
            return f"grpc://{self.host}:{self.port}"
        user = f"{self.user}@" if self.user else ""
        if self.socket:
            return f"{self.kind}://{user}/{self.database}?socket={self.socket}"
        return f"{self.kind}://{user}{self.host}:{self.port}/{self.database}"


def parse(target: str | os.PathLike | None) -> Target:
    """Reads a store name (see the module docstring); raises StoreError when it is not one."""
    text = str(target or DEFAULT_TARGET).strip()
    scheme, sep, _ = text.partition("://")
    if not sep:
        return Target("sqlite", path=text)
    scheme = scheme.lower()
    if scheme == "sqlite":
        return Target("sqlite", path=text[len("sqlite://") :])
    url = urllib.parse.urlsplit(text)
    if url.password is not None:
        raise StoreError(
            f"{scheme}:// URL holds a password: remove it and set {PASSWORD_ENV} instead"
        )
    if scheme == "grpc":
        return _server_target("grpc", url, needs_database=False)
    if scheme in SCHEMES:
        return _server_target(SCHEMES[scheme], url, needs_database=True)
    raise StoreError(
        f"unknown store {scheme}://: use a SQLite file path, mysql://USER@HOST:PORT/DB, "
        "postgresql://USER@HOST:PORT/DB or grpc://HOST:PORT"
    )


def _server_target(kind: str, url: urllib.parse.SplitResult, needs_database: bool) -> Target:
    try:
        port = url.port or DEFAULT_PORTS[kind]
    except ValueError:
        raise StoreError(f"{kind}://: the port is not a number") from None
    query = urllib.parse.parse_qs(url.query)
    socket = query.pop("socket", [""])[0] if kind == "mysql" else ""
    if query:
        raise StoreError(f"{kind}://: unknown option(s) {', '.join(sorted(query))}")
    database = url.path.lstrip("/")
    if needs_database and not database:
        raise StoreError(f"{kind}:// URL names no database: {kind}://USER@HOST:PORT/DATABASE")
    if not url.hostname and not socket:
        raise StoreError(f"{kind}:// URL names no host: {kind}://USER@HOST:PORT/...")
    return Target(
        kind,
        host="" if socket else url.hostname or "",
        port=0 if socket else port,
        user=urllib.parse.unquote(url.username or ""),
        database=database,
        socket=socket,
    )


def connection_config(target: str | os.PathLike | None = None, *, writable: bool = False) -> Config:
    """The MLMD connection config for a store name.

    Read-only by default (lineage): a SQLite file must exist and is opened READONLY, and a
    server database is not created. `writable=True` is for recording runs: the SQLite file
    and the server database are created when missing.
    """
    parsed = parse(target)
    if parsed.kind == "grpc":
        return metadata_store_pb2.MetadataStoreClientConfig(
            host=parsed.host, port=parsed.port, client_timeout_sec=GRPC_TIMEOUT_SECONDS
        )
    config = metadata_store_pb2.ConnectionConfig()
    if parsed.kind == "sqlite":
        _sqlite(config, parsed, writable)
    elif parsed.kind == "mysql":
        _mysql(config, parsed, writable)
    else:
        _postgresql(config, parsed, writable)
    return config


def _sqlite(config, target: Target, writable: bool) -> None:
    path = Path(target.path).expanduser()
    modes = metadata_store_pb2.SqliteMetadataSourceConfig
    if writable:
        path.parent.mkdir(parents=True, exist_ok=True)
        config.sqlite.connection_mode = modes.READWRITE_OPENCREATE
    elif not path.is_file():
        raise StoreError(f"{target.path}: no such ML Metadata file (has the pipeline run yet?)")
    else:
        config.sqlite.connection_mode = modes.READONLY
    config.sqlite.filename_uri = str(path.resolve())


def _password() -> str:
    return os.environ.get(PASSWORD_ENV, "")


def _mysql(config, target: Target, writable: bool) -> None:
    # Setting both host and socket aborts the process inside MLMD (a C++ check): one only.
    if target.socket:
        config.mysql.socket = target.socket
    else:
        config.mysql.host = target.host
        config.mysql.port = target.port
    config.mysql.database = target.database
    config.mysql.user = target.user
    config.mysql.password = _password()
    config.mysql.skip_db_creation = not writable


def _postgresql(config, target: Target, writable: bool) -> None:
    config.postgresql.host = target.host
    config.postgresql.port = str(target.port)
    config.postgresql.dbname = target.database
    config.postgresql.user = target.user
    config.postgresql.password = _password()
    config.postgresql.skip_db_creation = not writable


def recording_config(
    target: str | os.PathLike | None = None,
) -> metadata_store_pb2.ConnectionConfig:
    """The config `penguins run --mlmd TARGET` records into: SQLite, MySQL/MariaDB or
    PostgreSQL, created when missing (a server user needs the right to create databases,
    or the database must exist). Kubeflow's gRPC store is written by KFP itself."""
    if parse(target).kind == "grpc":
        raise StoreError(
            "grpc:// is Kubeflow's store, which KFP writes itself: record local runs into a "
            "SQLite file, mysql:// or postgresql://"
        )
    return connection_config(target, writable=True)


def open_store(
    target: str | os.PathLike | None = None, *, writable: bool = False
) -> metadata_store.MetadataStore:
    """Opens the store and checks it answers, so that a wrong host, user, password or file
    fails here, in one line naming the target, rather than in the middle of a query."""
    name = parse(target)
    config = connection_config(target, writable=writable)
    try:
        store = metadata_store.MetadataStore(config)
        store.get_context_types()
    except (RuntimeError, mlmd_errors.StatusError) as e:
        raise StoreError(f"cannot open ML Metadata at {name}: {_reason(e, name)}") from None
    return store


def _reason(error: Exception, target: Target) -> str:
    """MLMD's own message, on one line, with a hint where it says too little."""
    text = " ".join(str(error).split()) or type(error).__name__
    password = _password()
    if password:
        text = text.replace(password, "***")
    hints = {
        "mysql": f"is the server up, and are the user, {PASSWORD_ENV} and database right?",
        "postgresql": f"is the server up, and are the user, {PASSWORD_ENV} and database right?",
        "grpc": "is the metadata-grpc-service port-forwarded there?",
        "sqlite": "is it an ML Metadata SQLite file?",
    }
    return f"{text[:300]} ({hints[target.kind]})"
