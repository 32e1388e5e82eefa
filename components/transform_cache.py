"""Resolves Transform's analyzer cache without breaking pipeline caching.

Feeding Transform "the newest TransformCache" (LatestArtifactStrategy) changes its
inputs on every run, so Transform, Tuner, Trainer and everything after them re-run
even when the data did not change. This strategy hands Transform the same cache it
was given the last time it saw exactly these examples (so an identical re-run is a
cache hit), and the newest cache otherwise (so new spans reuse earlier analysis).
On the first run it resolves an empty cache instead of failing.
"""

from __future__ import annotations

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.common import resolver

EXAMPLES_KEY = "examples"
CACHE_KEY = "cache"
_TRANSFORM_INPUT_EXAMPLES = "examples"
_TRANSFORM_INPUT_CACHE = "analyzer_cache"


def _input_events_by_key(store, execution_id: int) -> dict[str, set[int]]:
    result: dict[str, set[int]] = {}
    for event in store.get_events_by_execution_ids([execution_id]):
        if event.type == metadata_store_pb2.Event.INPUT and event.path.steps:
            result.setdefault(event.path.steps[0].key, set()).add(event.artifact_id)
    return result


def _transform_executions_reading(store, artifact_ids: set[int]) -> list:
    """Transform executions that read any of `artifact_ids`, newest first."""
    consumer_ids = {
        e.execution_id
        for e in store.get_events_by_artifact_ids(sorted(artifact_ids))
        if e.type == metadata_store_pb2.Event.INPUT
    }
    executions = store.get_executions_by_id(sorted(consumer_ids))
    transform_types = {
        t.id
        for t in store.get_execution_types_by_id(sorted({e.type_id for e in executions}))
        if t.name.endswith(".Transform")
    }
    return sorted(
        (e for e in executions if e.type_id in transform_types), key=lambda e: e.id, reverse=True
    )


class ReusableTransformCacheStrategy(resolver.ResolverStrategy):
    """Inputs: `examples` (this run's) and `cache` (every TransformCache)."""

    def resolve_artifacts(
        self, store: metadata_store.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]]:
        examples = input_dict.get(EXAMPLES_KEY, [])
        caches = sorted(input_dict.get(CACHE_KEY, []), key=lambda a: a.id)
        wanted = {a.id for a in examples}
        for execution in _transform_executions_reading(store, wanted):
            inputs = _input_events_by_key(store, execution.id)
            if inputs.get(_TRANSFORM_INPUT_EXAMPLES) == wanted:
                reused = inputs.get(_TRANSFORM_INPUT_CACHE, set())
                return {EXAMPLES_KEY: examples, CACHE_KEY: [c for c in caches if c.id in reused]}
        return {EXAMPLES_KEY: examples, CACHE_KEY: caches[-1:]}
