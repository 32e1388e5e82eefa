"""Executors of the baseline tasks: connect to ML Metadata, ask `query`, hand the answer on."""

from __future__ import annotations

import os
from typing import Any

from absl import logging
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.mlmd_baseline import query

# Set on an input artifact by the Kubeflow entrypoint: the URI KFP knows it by (the
# executor itself sees the launcher's local copy).
REMOTE_URI_PROPERTY = "remote_uri"
ABSENT_PROPERTY = "absent"
SOURCE_PROPERTY = "baseline_artifact_id"
# What KFP's pods get from the metadata-grpc-configmap, and its in-cluster default.
HOST_ENV, PORT_ENV = "METADATA_GRPC_SERVICE_HOST", "METADATA_GRPC_SERVICE_PORT"
DEFAULT_HOST, DEFAULT_PORT = "metadata-grpc-service.kubeflow", 8080
# Carried over from the artifact found, so the next task reads it as its own.
_COPIED = ("split_names", "span", "version")


def connect() -> metadata_store.MetadataStore:
    host = os.environ.get(HOST_ENV, DEFAULT_HOST)
    port = os.environ.get(PORT_ENV, str(DEFAULT_PORT))
    if not port.isdigit():
        raise ValueError(f"{PORT_ENV} must be a port number, got {port!r}")
    config = metadata_store_pb2.MetadataStoreClientConfig(host=host, port=int(port))
    return metadata_store.MetadataStore(config)


def remote_uri(artifact: types.Artifact) -> str:
    if artifact.has_custom_property(REMOTE_URI_PROPERTY):
        return artifact.get_string_custom_property(REMOTE_URI_PROPERTY)
    return artifact.uri


def hand_on(found: metadata_store_pb2.Artifact | None, output: types.Artifact) -> None:
    """Makes `output` a record of `found` (same URI, same split names and span), or
    marks it absent."""
    if found is None:
        output.set_int_custom_property(ABSENT_PROPERTY, 1)
        return
    output.uri = found.uri
    output.set_int_custom_property(SOURCE_PROPERTY, found.id)
    for key in _COPIED:
        value = found.properties.get(key) or found.custom_properties.get(key)
        if value is None:
            continue
        kind = value.WhichOneof("value")
        raw = getattr(value, kind)
        if key == "split_names":
            output.split_names = str(raw)
        elif kind in ("int_value", "double_value"):
            output.set_int_custom_property(key, int(raw))
        else:
            output.set_string_custom_property(key, str(raw))


def _remote_uris(artifacts: list[types.Artifact]) -> list[str]:
    return [remote_uri(a) for a in artifacts]


class BlessedModelExecutor(base_executor.BaseExecutor):
    def Do(self, input_dict, output_dict, exec_properties: dict[str, Any]) -> None:
        candidates = _remote_uris(input_dict.get("candidate", []))
        found = query.latest_blessed_model(connect(), exclude_uris=candidates)
        logging.info("baseline model: %s", f"artifact {found.id}" if found else "none")
        hand_on(found, artifact_utils.get_single_instance(output_dict["model"]))


class DriftStatisticsExecutor(base_executor.BaseExecutor):
    def Do(self, input_dict, output_dict, exec_properties: dict[str, Any]) -> None:
        examples = _remote_uris(input_dict.get("examples", []))
        found = query.drift_baseline_statistics(connect(), examples_uris=examples)
        logging.info("drift baseline: %s", f"artifact {found.id}" if found else "none")
        hand_on(found, artifact_utils.get_single_instance(output_dict["statistics"]))
