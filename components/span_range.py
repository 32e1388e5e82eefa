"""Resolves the Examples of a span range: the newest ingestion of each span, oldest span first.

TFX's SpanRangeStrategy returns every artifact whose span is in range, so a span
ingested twice (its data changed) would be trained on twice. This one keeps the
newest artifact per span and fails loudly when a span of the range was never ingested.
"""

from __future__ import annotations

from ml_metadata import metadata_store
from tfx import types
from tfx.dsl.components.common import resolver

EXAMPLES_KEY = "examples"
_SPAN = "span"


class MissingSpans(RuntimeError):
    """A span of the requested range has no Examples artifact in MLMD."""


def _span(artifact: types.Artifact) -> int | None:
    if not artifact.has_custom_property(_SPAN):
        return None
    # ExampleGen records span as an int; older artifacts may hold a string.
    return int(artifact.get_custom_property(_SPAN))


def newest_per_span(artifacts: list[types.Artifact], first: int, last: int) -> list[types.Artifact]:
    """The newest artifact of each span in [first, last], ordered by span."""
    newest: dict[int, types.Artifact] = {}
    for artifact in artifacts:
        span = _span(artifact)
        in_range = span is not None and first <= span <= last
        if in_range and (span not in newest or artifact.id > newest[span].id):
            newest[span] = artifact
    missing = [s for s in range(first, last + 1) if s not in newest]
    if missing:
        raise MissingSpans(
            f"span range {first}-{last}: no examples ingested for span(s) "
            f"{', '.join(map(str, missing))}"
        )
    return [newest[s] for s in sorted(newest)]


class SpanRangeStrategy(resolver.ResolverStrategy):
    """Input `examples` (every Examples artifact of ExampleGen); config: first, last."""

    def __init__(self, first: int, last: int):
        self._first, self._last = first, last

    def resolve_artifacts(
        self, store: metadata_store.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]]:
        return {
            EXAMPLES_KEY: newest_per_span(input_dict.get(EXAMPLES_KEY, []), self._first, self._last)
        }
