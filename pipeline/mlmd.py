"""Small read helpers over ML Metadata, in the layout the local TFX runner writes:
a `pipeline_run` context per run, a `node` context per component."""

from __future__ import annotations

import dataclasses

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

PIPELINE_RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"
_STATE = metadata_store_pb2.Execution.State


@dataclasses.dataclass(frozen=True)
class NodeExecution:
    node_id: str
    execution: metadata_store_pb2.Execution

    @property
    def state(self) -> str:
        """'ran', 'cached', 'failed' or 'running', as a person would say it."""
        return {
            _STATE.COMPLETE: "ran",
            _STATE.CACHED: "cached",
            _STATE.FAILED: "failed",
            _STATE.CANCELED: "canceled",
        }.get(self.execution.last_known_state, "running")


def latest_run_context(store: metadata_store.MetadataStore, pipeline_name: str):
    """The newest pipeline_run context of `pipeline_name`, or None."""
    runs = [
        c
        for c in store.get_contexts_by_type(PIPELINE_RUN_CONTEXT)
        if _belongs_to(store, c, pipeline_name)
    ]
    return max(runs, key=lambda c: (c.create_time_since_epoch, c.id), default=None)


def _belongs_to(store, run_context, pipeline_name: str) -> bool:
    parents = store.get_parent_contexts_by_context(run_context.id)
    return not parents or any(p.name == pipeline_name for p in parents)


def node_executions(
    store: metadata_store.MetadataStore, run_context_id: int
) -> dict[str, NodeExecution]:
    """The newest execution of each node in one run, keyed by node id."""
    node_type = store.get_context_type(NODE_CONTEXT)
    result: dict[str, NodeExecution] = {}
    for execution in store.get_executions_by_context(run_context_id):
        for context in store.get_contexts_by_execution(execution.id):
            if context.type_id != node_type.id:
                continue
            node_id = context.name.split(".", 1)[-1]
            known = result.get(node_id)
            if known is None or execution.id > known.execution.id:
                result[node_id] = NodeExecution(node_id, execution)
    return result


_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
_INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)


def _artifacts_by_key(
    store: metadata_store.MetadataStore, execution_id: int, event_types
) -> dict[str, list[metadata_store_pb2.Artifact]]:
    events = [e for e in store.get_events_by_execution_ids([execution_id]) if e.type in event_types]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    result: dict[str, list] = {}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else ""
        result.setdefault(key, []).append(artifacts[event.artifact_id])
    return result


def output_artifacts(
    store: metadata_store.MetadataStore, execution_id: int
) -> dict[str, list[metadata_store_pb2.Artifact]]:
    """Output artifacts of an execution, by output key."""
    return _artifacts_by_key(store, execution_id, _OUTPUT_EVENTS)


def input_artifacts(
    store: metadata_store.MetadataStore, execution_id: int
) -> dict[str, list[metadata_store_pb2.Artifact]]:
    """Input artifacts of an execution, by input key."""
    return _artifacts_by_key(store, execution_id, _INPUT_EVENTS)


def custom(artifact: metadata_store_pb2.Artifact, key: str, default=None):
    """A custom property's value, whatever its kind."""
    if key not in artifact.custom_properties:
        return default
    value = artifact.custom_properties[key]
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else default
