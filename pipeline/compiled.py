"""The compiled pipeline (TFX's IR), kept between runs, and other memos of a run's output.

Building `create_pipeline` imports every component, and through them TensorFlow
Transform, TFMA, TFDV and Beam: about 11 s of a 2-core machine before anything runs,
on top of the launcher's own imports. An identical re-run executes nothing (every
component is a cache hit), so that import was most of its time. The compiled IR is a
pure function of the configuration, this project's code and the TFX version: it is
stored under the pipeline root, keyed by a hash of all three, and read back instead of
compiled while none of them changed. Executors are imported by the launcher only when
a component actually runs.

Only SQLite-backed runs are kept: the IR embeds the MLMD connection, and a server's
password must never land on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata
from tfx.proto.orchestration import pipeline_pb2

from pipeline.config import PROJECT_ROOT, PipelineConfig

CODE_PACKAGES = ("pipeline", "components", "models")


def sqlite_connection(config: PipelineConfig) -> metadata_store_pb2.ConnectionConfig:
    """MLMD on the SQLite file under the output folder (created on first use)."""
    config.metadata_path.parent.mkdir(parents=True, exist_ok=True)
    return metadata.sqlite_metadata_connection_config(str(config.metadata_path))


def _code_digest() -> str:
    import tfx

    digest = hashlib.sha256(tfx.__version__.encode())
    for package in CODE_PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            digest.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _key(config: PipelineConfig, connection: metadata_store_pb2.ConnectionConfig) -> str:
    digest = hashlib.sha256(_code_digest().encode())
    digest.update(repr(config).encode())
    digest.update(connection.SerializeToString(deterministic=True))
    return digest.hexdigest()[:32]


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as f:
        f.write(data)
    os.replace(f.name, path)


def ir(
    config: PipelineConfig, connection: metadata_store_pb2.ConnectionConfig
) -> pipeline_pb2.Pipeline:
    """The compiled pipeline for `config` (a fresh copy: running one modifies it)."""
    cacheable = connection.HasField("sqlite")
    path = config.pipeline_root / ".compiled" / f"{_key(config, connection)}.pb"
    if cacheable and path.is_file():
        return pipeline_pb2.Pipeline.FromString(path.read_bytes())

    from tfx.dsl.compiler import compiler

    from pipeline.pipeline import create_pipeline

    compiled = compiler.Compiler().compile(create_pipeline(config, connection))
    if cacheable:
        _write_atomically(path, compiled.SerializeToString())
    return compiled


def memoized(config: PipelineConfig, name: str, compute: Callable[[], dict]) -> dict:
    """`compute()`, remembered under the pipeline root as `name`: for values derived from
    an artifact, which never changes once written (its id belongs in `name`)."""
    path = config.pipeline_root / ".memo" / f"{name}.json"
    if path.is_file():
        return json.loads(path.read_text())
    value = compute()
    _write_atomically(path, json.dumps(value).encode())
    return value
