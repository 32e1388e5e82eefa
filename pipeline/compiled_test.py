"""The compiled pipeline kept between runs: reused while nothing changes, never with secrets."""

import dataclasses

from ml_metadata.proto import metadata_store_pb2

from pipeline import compiled
from pipeline.config import PipelineConfig


def _stored(config):
    return sorted((config.pipeline_root / ".compiled").glob("*.pb"))


def test_compiled_once_then_read_back_until_the_config_changes(tmp_path):
    config = PipelineConfig(output_dir=tmp_path).resolved()
    connection = compiled.sqlite_connection(config)
    first = compiled.ir(config, connection)
    (stored,) = _stored(config)
    assert compiled.ir(config, connection) == first  # read back, equal to a compile

    changed = dataclasses.replace(config, accuracy_threshold=0.5)
    compiled.ir(changed, connection)
    assert len(_stored(config)) == 2 and stored in _stored(config)


def test_a_server_connection_is_never_written_to_disk(tmp_path):
    config = PipelineConfig(output_dir=tmp_path).resolved()
    connection = metadata_store_pb2.ConnectionConfig()
    connection.mysql.host, connection.mysql.port = "127.0.0.1", 3306
    connection.mysql.database, connection.mysql.password = "mlmd", "s3cret"
    compiled.ir(config, connection)
    assert _stored(config) == []


def test_memoized_computes_once(tmp_path):
    config = PipelineConfig(output_dir=tmp_path).resolved()
    calls = []
    for _ in range(2):
        value = compiled.memoized(config, "x-1", lambda: calls.append(1) or {"a": 1})
    assert value == {"a": 1} and calls == [1]
