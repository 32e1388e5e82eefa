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


def number(artifact, key: str) -> float | None:
    """A numeric custom property (int locally, double from KFP's launcher), else None."""
    if key not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[key]
    kind = value.WhichOneof("value")
    if kind in ("int_value", "double_value"):
        return float(getattr(value, kind))
    try:
        return float(value.string_value)
    except ValueError:
        return None


def artifacts_of_type(store, name: str) -> list:
    """Artifacts of TFX type `name`, newest first, under the local layout's type name and
    KFP's (its launcher keeps TFX's schema title, `tfx.<name>`)."""
    found = [*store.get_artifacts_by_type(name), *store.get_artifacts_by_type(f"tfx.{name}")]
    return sorted(found, key=lambda a: a.id, reverse=True)


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
    pushed = [a for a in artifacts_of_type(store, "PushedModel") if number(a, "pushed") == 1]
    for pushed_model in pushed:
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


def described_examples(store, statistics_id: int, exclude_ids=frozenset()):
    """The Examples that statistics `statistics_id` describe, unless in `exclude_ids`."""
    made_by = producer(store, statistics_id)
    source = inputs(store, made_by, EXAMPLES_KEY)[:1] if made_by else []
    if not source or source[0] in exclude_ids:
        return None
    return store.get_artifacts_by_id(source)[0]


def pick_baseline(store, earlier: list[tuple], current_span: int):
    """From (statistics, the Examples they describe) pairs, the baseline: statistics of the
    served model's training data, else of a span before `current_span`; of those, the
    newest span, then the newest statistics. None when no pair qualifies."""
    served = set(served_training_examples(store))
    of_served = [pair for pair in earlier if pair[1].id in served]
    of_previous = [
        pair
        for pair in earlier
        if (span_of(pair[1]) is not None) and span_of(pair[1]) < current_span
    ]
    best = max(
        of_served or of_previous,
        key=lambda pair: (span_of(pair[1]) or 0, pair[0].id),
        default=None,
    )
    return best[0] if best else None


class DriftBaselineStrategy(resolver.ResolverStrategy):
    """Inputs: `examples` (this run's) and `statistics` (every StatisticsGen output)."""

    def resolve_artifacts(
        self, store: metadata_store.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]]:
        examples = input_dict.get(EXAMPLES_KEY, [])
        current = {a.id for a in examples}
        current_span = max((span_of(a.mlmd_artifact) or 0 for a in examples), default=0)

        # Earlier statistics, each with the examples it describes.
        earlier = [
            (statistics, described_examples(store, statistics.id, exclude_ids=current))
            for statistics in input_dict.get(STATISTICS_KEY, [])
        ]
        best = pick_baseline(store, [pair for pair in earlier if pair[1]], current_span)
        return {EXAMPLES_KEY: examples, STATISTICS_KEY: [best] if best else []}
