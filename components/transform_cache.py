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


class ReusableTransformCacheStrategy(resolver.ResolverStrategy):
    """Inputs: `examples` (this run's) and `cache` (every TransformCache)."""

    def resolve_artifacts(
        self, store: metadata_store.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]]:
        examples = input_dict.get(EXAMPLES_KEY, [])
        caches = sorted(input_dict.get(CACHE_KEY, []), key=lambda a: a.id)
        wanted = {a.id for a in examples}
        by_id = {a.id: a for a in caches}

        consumers = {
            e.execution_id
            for e in store.get_events_by_artifact_ids(sorted(wanted))
            if e.type == metadata_store_pb2.Event.INPUT
        }
        for execution_id in sorted(consumers, reverse=True):
            inputs = _input_events_by_key(store, execution_id)
            if inputs.get(_TRANSFORM_INPUT_EXAMPLES) != wanted or _TRANSFORM_INPUT_CACHE not in {
                *inputs,
                *self._declared_inputs(store, execution_id),
            }:
                continue
            reused = [
                by_id[i] for i in sorted(inputs.get(_TRANSFORM_INPUT_CACHE, ())) if i in by_id
            ]
            return {EXAMPLES_KEY: examples, CACHE_KEY: reused}
        return {EXAMPLES_KEY: examples, CACHE_KEY: caches[-1:]}

    @staticmethod
    def _declared_inputs(store, execution_id: int) -> set[str]:
        """Input keys of a Transform execution, known from its type even when empty."""
        (execution,) = store.get_executions_by_id([execution_id])
        type_name = store.get_execution_types_by_id([execution.type_id])[0].name
        return {_TRANSFORM_INPUT_CACHE} if type_name.endswith(".Transform") else set()
