"""Lineage with real database servers: the pipeline records into MariaDB and into
PostgreSQL (started on 127.0.0.1 by tests/db_servers.py), and `trace latest` there gives
the same chain as on SQLite. These run in CI: a missing server fails with what to
install (make test installs both), it is not skipped."""

import shutil

import pytest
from click.testing import CliRunner

from pipeline import runner
from pipeline.config import DEFAULT_DATA_ROOT, PipelineConfig, TrainingConfig
from pipeline.lineage import api
from pipeline.lineage.cli import lineage
from pipeline.lineage.store import PASSWORD_ENV, open_store, recording_config
from tests import db_servers

pytestmark = pytest.mark.e2e

# Small budgets: the point is where lineage is recorded, not the model.
SMALL = TrainingConfig(train_steps=60, tuner_trials=1, tuner_train_steps=20, eval_steps=5)
BACKENDS = ["mariadb", "postgresql"]


def _server(start):
    try:
        server = start()
    except db_servers.ServerMissing as e:
        pytest.fail(str(e), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mariadb():
    yield from _server(db_servers.start_mariadb)


@pytest.fixture(scope="module")
def postgresql():
    yield from _server(db_servers.start_postgresql)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "penguins"
    shutil.copytree(DEFAULT_DATA_ROOT, folder)
    return folder


def _config(tmp_path_factory, data, name: str) -> PipelineConfig:
    return PipelineConfig(
        data_root=data,
        output_dir=tmp_path_factory.mktemp(name) / "outputs",
        training=SMALL,
        accuracy_threshold=0.3,
    )


@pytest.fixture(scope="module")
def sqlite_trace(tmp_path_factory, data):
    config = _config(tmp_path_factory, data, "sqlite")
    assert runner.run(config).pushed
    return api.trace(open_store(config.resolved().metadata_path), "latest")


@pytest.fixture(scope="module")
def recorded(request, tmp_path_factory, data):
    """Runs the pipeline once per server, recording into it; returns (server, report, config)."""
    found = {}

    def record(backend: str):
        if backend not in found:
            server = request.getfixturevalue(backend)
            config = _config(tmp_path_factory, data, backend)
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv(PASSWORD_ENV, server.password)
                connection = recording_config(server.url)
            found[backend] = (server, runner.run(config, connection_config=connection), config)
        return found[backend]

    return record


@pytest.mark.parametrize("backend", BACKENDS)
def test_trace_latest_on_the_server_is_the_chain_on_sqlite(
    recorded, sqlite_trace, monkeypatch, backend
):
    server, report, _ = recorded(backend)
    assert report.pushed and report.push["version"] == 1
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    store = open_store(server.url)

    trace = api.trace(store, "latest")

    assert trace.shape() == sqlite_trace.shape()
    assert trace.version == sqlite_trace.version == 1
    assert sorted(
        trace.lineage.executions[e].component for e in trace.lineage.executions
    ) == sorted(
        sqlite_trace.lineage.executions[e].component for e in sqlite_trace.lineage.executions
    )
    assert trace.blessings["model"]["blessed"] and trace.blessings["infra"]["blessed"]
    assert trace.metrics["overall"]["example_count"] > 0
    assert [
        a.properties["span"] for a in trace.lineage.of_type("Examples") if "span" in a.properties
    ] == [3]
    (run,) = api.runs(store)
    assert run.state == "complete" and run.pushed_version == 1 and run.cached == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_cli_reads_the_server_with_the_password_from_the_environment(
    recorded, monkeypatch, backend
):
    server, _, _ = recorded(backend)
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    result = CliRunner().invoke(lineage, ["trace", "latest", "--mlmd", server.url, "--no-metrics"])
    assert result.exit_code == 0, result.output
    assert "PushedModel" in result.stdout and "serving version 1" in result.stdout
    assert server.password not in result.output

    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    refused = CliRunner().invoke(lineage, ["runs", "--mlmd", server.url])
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"error: cannot open ML Metadata at {server.url}:")
    assert refused.stderr.count("\n") == 1 and "not-the-password" not in refused.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_password_is_stored_nowhere(recorded, backend):
    server, report, config = recorded(backend)
    secret = server.password.encode()
    assert secret not in server.dump().encode()
    outputs = config.resolved().output_dir
    written = [path for path in outputs.rglob("*") if path.is_file()]
    assert written and not [path for path in written if secret in path.read_bytes()]
    assert server.password not in str(report.to_dict())
