"""Resolves the statistics a new span's drift is measured against.

The baseline is the training data of the model now being served: the statistics of the
newest span its Transform read. Before anything is pushed, it is the previous span's
statistics. With neither (the first span ever), there is no baseline and no drift check.
"""

from __future__ import annotations

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.common import resolver

EXAMPLES_KEY = "examples"
STATISTICS_KEY = "statistics"
_INPUT = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)
_OUTPUT = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)


def span_of(artifact) -> int | None:
    """An MLMD artifact's span (int locally, double when KFP's launcher recorded it)."""
    if "span" in artifact.custom_properties:
        value = artifact.custom_properties["span"]
        return int(value.int_value or value.double_value or value.string_value or 0)
    return None


def _pushed(artifact) -> bool:
    value = artifact.custom_properties["pushed"]
    return (value.int_value or value.double_value) == 1


def producer(store, artifact_id: int) -> int | None:
    """The execution that output `artifact_id`, or None."""
    events = store.get_events_by_artifact_ids([artifact_id])
    return next((e.execution_id for e in events if e.type in _OUTPUT), None)


def inputs(store, execution_id: int, key: str) -> list[int]:
    """Ids of the artifacts `execution_id` read under input `key`."""
    return [
        e.artifact_id
        for e in store.get_events_by_execution_ids([execution_id])
        if e.type in _INPUT and e.path.steps and e.path.steps[0].key == key
    ]


def served_training_examples(store) -> list[int]:
    """Ids of the raw Examples the newest pushed model was trained on (empty if none)."""
    # The local layout's type name, and KFP's (its launcher keeps TFX's schema title).
    candidates = [*store.get_artifacts_by_type("PushedModel")]
    candidates += store.get_artifacts_by_type("tfx.PushedModel")
    pushed = [a for a in candidates if "pushed" in a.custom_properties and _pushed(a)]
    for pushed_model in sorted(pushed, key=lambda a: a.id, reverse=True):
        ids = [pushed_model.id]
        for key in ("model", "examples", "examples"):  # Pusher ← Trainer ← Transform
            execution_id = producer(store, ids[0]) if ids else None
            ids = inputs(store, execution_id, key) if execution_id else []
        if ids:
            return ids
    return []


def statistics_of(store, examples_id: int):
    """The newest StatisticsGen output describing Examples `examples_id`, or None."""
    consumers = sorted(
        {
            e.execution_id
            for e in store.get_events_by_artifact_ids([examples_id])
            if e.type in _INPUT
        },
        reverse=True,
    )
    for event in store.get_events_by_execution_ids(consumers):
        if event.type in _OUTPUT and event.path.steps and event.path.steps[0].key == STATISTICS_KEY:
            return store.get_artifacts_by_id([event.artifact_id])[0]
    return None


class DriftBaselineStrategy(resolver.ResolverStrategy):
    """Inputs: `examples` (this run's) and `statistics` (every StatisticsGen output)."""

    def resolve_artifacts(
        self, store: metadata_store.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]]:
        examples = input_dict.get(EXAMPLES_KEY, [])
        current = {a.id for a in examples}
        current_span = max((span_of(a.mlmd_artifact) or 0 for a in examples), default=0)

        # Earlier statistics, each with the examples it describes and their span.
        earlier = []
        for statistics in input_dict.get(STATISTICS_KEY, []):
            made_by = producer(store, statistics.id)
            source = inputs(store, made_by, EXAMPLES_KEY)[:1] if made_by else []
            if source and source[0] not in current:
                (described,) = store.get_artifacts_by_id(source)
                earlier.append((statistics, described.id, span_of(described)))

        served = set(served_training_examples(store))
        of_served = [e for e in earlier if e[1] in served]
        of_previous = [e for e in earlier if e[2] is not None and e[2] < current_span]
        best = max(of_served or of_previous, key=lambda e: (e[2] or 0, e[0].id), default=None)
        return {EXAMPLES_KEY: examples, STATISTICS_KEY: [best[0]] if best else []}
