"""Store names: every kind parses to the right MLMD config, passwords come only from the
environment, and every mistake is one line that never shows a password."""

import pytest
from ml_metadata.proto import metadata_store_pb2

from pipeline.lineage import store
from pipeline.lineage.synthetic import demo_store

SQLITE = metadata_store_pb2.SqliteMetadataSourceConfig


def test_sqlite_file_opens_read_only_for_lineage(tmp_path):
    path = demo_store(tmp_path)
    config = store.connection_config(str(path))
    assert config.sqlite.connection_mode == SQLITE.READONLY
    assert config.sqlite.filename_uri == str(path.resolve())
    assert store.open_store(path).get_contexts_by_type("pipeline_run")


def test_read_only_store_refuses_writes(tmp_path):
    path = demo_store(tmp_path)
    read_only = store.open_store(path)
    with pytest.raises(Exception, match="(?i)read.?only"):
        read_only.put_context_type(metadata_store_pb2.ContextType(name="new_type"))


def test_missing_sqlite_file_is_one_clear_line(tmp_path):
    with pytest.raises(store.StoreError) as error:
        store.connection_config(str(tmp_path / "nope.db"))
    assert (
        str(error.value)
        == f"{tmp_path / 'nope.db'}: no such ML Metadata file (has the pipeline run yet?)"
    )
    assert not (tmp_path / "nope.db").exists()


def test_recording_creates_the_sqlite_file(tmp_path):
    config = store.recording_config(str(tmp_path / "new" / "metadata.db"))
    assert config.sqlite.connection_mode == SQLITE.READWRITE_OPENCREATE
    assert (tmp_path / "new").is_dir()


def test_default_target_is_the_outputs_sqlite_file():
    assert store.parse(None) == store.Target("sqlite", path="outputs/metadata.db")


def test_mysql_url_with_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("MLMD_PASSWORD", "s3cret")
    config = store.connection_config("mysql://penguins@db.example:3307/metadb")
    assert (config.mysql.host, config.mysql.port, config.mysql.database) == (
        "db.example",
        3307,
        "metadb",
    )
    assert (config.mysql.user, config.mysql.password) == ("penguins", "s3cret")
    assert config.mysql.skip_db_creation  # lineage never creates a database
    assert not store.recording_config("mysql://penguins@db.example/metadb").mysql.skip_db_creation


def test_mysql_socket_is_set_without_host(monkeypatch):
    # MLMD aborts the whole process (a C++ check) when both are set.
    config = store.connection_config("mysql://root@/metadb?socket=/run/mysqld/mysqld.sock")
    assert config.mysql.socket == "/run/mysqld/mysqld.sock"
    assert not config.mysql.HasField("host") and not config.mysql.HasField("port")


def test_postgresql_url(monkeypatch):
    monkeypatch.setenv("MLMD_PASSWORD", "s3cret")
    config = store.connection_config("postgresql://penguins@127.0.0.1/metadb")
    assert (config.postgresql.host, config.postgresql.port) == ("127.0.0.1", "5432")
    assert (config.postgresql.dbname, config.postgresql.user) == ("metadb", "penguins")
    assert config.postgresql.password == "s3cret"


def test_grpc_url_is_a_client_config():
    config = store.connection_config("grpc://localhost:8080")
    assert isinstance(config, metadata_store_pb2.MetadataStoreClientConfig)
    assert (config.host, config.port) == ("localhost", 8080)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://penguins:hunter2@db/metadb", "holds a password"),
        ("postgresql://penguins:@db/metadb", "holds a password"),
        ("ftp://db/metadb", "unknown store ftp://"),
        ("mysql://penguins@db:port/metadb", "port is not a number"),
        ("mysql://penguins@db:3306", "names no database"),
        ("postgresql://penguins@/metadb", "names no host"),
        ("mysql://penguins@db/metadb?ssl=1", "unknown option(s) ssl"),
    ],
)
def test_bad_urls_are_one_line_without_the_password(url, message):
    with pytest.raises(store.StoreError) as error:
        store.connection_config(url)
    text = str(error.value)
    assert message in text and "\n" not in text and "hunter2" not in text


def test_recording_into_kubeflows_grpc_store_is_refused():
    with pytest.raises(store.StoreError, match="KFP writes itself"):
        store.recording_config("grpc://localhost:8080")


def test_unreachable_server_is_one_line_naming_the_target_without_the_password(monkeypatch):
    monkeypatch.setenv("MLMD_PASSWORD", "hunter2")
    with pytest.raises(store.StoreError) as error:
        store.open_store("mysql://penguins@127.0.0.1:1/metadb")
    text = str(error.value)
    assert text.startswith("cannot open ML Metadata at mysql://penguins@127.0.0.1:1/metadb:")
    assert "hunter2" not in text and "\n" not in text


def test_unreachable_grpc_service_fails_when_opened():
    with pytest.raises(store.StoreError, match="port-forwarded"):
        store.open_store("grpc://127.0.0.1:1")


def test_a_file_that_is_not_a_store_is_one_line(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("not a database")
    with pytest.raises(store.StoreError, match="cannot open ML Metadata at"):
        store.open_store(path)
