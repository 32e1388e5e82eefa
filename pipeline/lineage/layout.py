"""How lineage is laid out in ML Metadata, by TFX's local runner and by Kubeflow Pipelines
v2, behind a few functions, so that the code that walks it reads the same for both.

TFX local (LocalDagRunner):
  contexts `pipeline`, `pipeline_run` (one per run) and `node` (`<pipeline>.<component id>`);
  executions typed by component class (`tfx.components.trainer.component.Trainer`);
  artifacts typed by TFX type name (`Examples`), integer properties as ints.
KFP v2 (its driver and launcher write MLMD; TFX's entrypoint does not):
  contexts `system.Pipeline` and `system.PipelineRun`; executions typed
  `system.ContainerExecution` (tasks) and `system.DAGExecution` (the run itself), the task
  named by the custom property `task_name`; artifacts typed by the schema title of the
  component's output (`tfx.Examples`) or by a KFP `system.*` type, with every TFX property
  as a custom property, numbers as doubles.
"""

from __future__ import annotations

from google.protobuf import json_format
from ml_metadata.proto import metadata_store_pb2

RUN_CONTEXT_TYPES = ("pipeline_run", "system.PipelineRun")
PIPELINE_CONTEXT_TYPES = ("pipeline", "system.Pipeline")
NODE_CONTEXT_TYPE = "node"
KFP_DAG_EXECUTION = "system.DAGExecution"

INPUT_EVENTS = frozenset({metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT})
OUTPUT_EVENTS = frozenset(
    {metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT}
)

_STATE = metadata_store_pb2.Execution.State
STATES = {
    _STATE.COMPLETE: "ran",
    _STATE.CACHED: "cached",
    _STATE.FAILED: "failed",
    _STATE.CANCELED: "skipped",  # KFP: a task whose trigger condition was false
    _STATE.RUNNING: "running",
    _STATE.NEW: "running",
}

# Bookkeeping properties that say nothing about where a model came from.
NOISE = frozenset(
    {
        "tfx_version",
        "is_external",
        "__is_null__",
        "display_name",
        "store_session_info",
        "stats_dashboard_link",
        "sample_rate_by_split",
        "pushed_destination",
        "pushed_version",
        "current_model",
        "state",
        "name",
        "producer_component",
        "file_format",
        "payload_format",
    }
)


def value(proto: metadata_store_pb2.Value):
    """A property value as plain Python: whole doubles (KFP stores every number as a
    double) become ints, structs become dicts."""
    kind = proto.WhichOneof("value")
    if kind is None:
        return None
    if kind == "struct_value":
        return json_format.MessageToDict(proto.struct_value)
    if kind == "proto_value":
        return proto.proto_value.type_url
    found = getattr(proto, kind)
    if kind == "double_value" and found.is_integer():
        return int(found)
    return found


def properties(node) -> dict:
    """An artifact's or execution's properties and custom properties, noise left out."""
    found = {k: value(v) for k, v in node.properties.items()}
    found.update({k: value(v) for k, v in node.custom_properties.items()})
    return {k: found[k] for k in sorted(found) if k not in NOISE and found[k] not in ("", None)}


def prop(node, key: str, default=None):
    """One property or custom property, whichever holds it."""
    for bag in (node.custom_properties, node.properties):
        if key in bag:
            found = value(bag[key])
            return default if found is None else found
    return default


def artifact_type(artifact: metadata_store_pb2.Artifact) -> str:
    """The TFX type name (`Examples`), whichever layout wrote the artifact."""
    name = artifact.type
    if name.startswith("tfx."):
        return name[len("tfx.") :]
    if name.startswith("system."):
        return _tfx_type_of_system_artifact(artifact) or name
    return name


def _tfx_type_of_system_artifact(artifact: metadata_store_pb2.Artifact) -> str | None:
    """KFP types some artifacts with its own `system.*` types; the Kubeflow entrypoint
    already knows how to tell their TFX type from the metadata keys TFX writes."""
    from pipeline.kubeflow import entrypoint

    described = {
        "type": {"schemaTitle": artifact.type},
        "metadata": dict(artifact.custom_properties),
    }
    try:
        return entrypoint.artifact_title(described, None, str(artifact.id))[len("tfx.") :]
    except entrypoint.UnknownArtifactType:
        return None


def event_keys(event: metadata_store_pb2.Event) -> tuple[str, ...]:
    """The input or output keys of an event. TFX adds `_<Component>.<key>` keys for the
    inputs of a conditional component; those repeat a real key and are left out."""
    keys = [s.key for s in event.path.steps if s.HasField("key") and not s.key.startswith("_")]
    return tuple(keys) or ("",)


def state(execution: metadata_store_pb2.Execution) -> str:
    return STATES.get(execution.last_known_state, "unknown")


def is_task(execution: metadata_store_pb2.Execution) -> bool:
    """False for KFP's DAG executions, which stand for a run, not a component."""
    return execution.type != KFP_DAG_EXECUTION


def component(
    execution: metadata_store_pb2.Execution, contexts: list[metadata_store_pb2.Context]
) -> str:
    """The component id (`Trainer`): the TFX node context, else KFP's task name."""
    for context in contexts:
        if context.type == NODE_CONTEXT_TYPE:
            return context.name.split(".", 1)[-1]
    for key in ("task_name", "display_name"):
        name = prop(execution, key)
        if name:
            return str(name)
    return execution.type.rsplit(".", 1)[-1]


def run_context(contexts: list[metadata_store_pb2.Context]) -> metadata_store_pb2.Context | None:
    """The run an execution belongs to (the newest, should a partial run add another)."""
    runs = [c for c in contexts if c.type in RUN_CONTEXT_TYPES]
    return max(runs, key=lambda c: c.id, default=None)


def pipeline_name(contexts: list[metadata_store_pb2.Context]) -> str:
    return next((c.name for c in contexts if c.type in PIPELINE_CONTEXT_TYPES), "")
