"""The span-range resolver: newest ingestion per span, every span present."""

import pytest
from tfx.types import standard_artifacts

from components.span_range import MissingSpans, newest_per_span


def _examples(artifact_id: int, span: int | None):
    artifact = standard_artifacts.Examples()
    artifact.id = artifact_id
    if span is not None:
        artifact.set_int_custom_property("span", span)
    return artifact


def test_keeps_the_newest_artifact_of_each_span_in_order():
    artifacts = [_examples(7, 3), _examples(1, 1), _examples(4, 2), _examples(9, 2)]
    artifacts.append(_examples(2, 4))
    resolved = newest_per_span(artifacts, 1, 3)
    assert [a.id for a in resolved] == [1, 9, 7]


def test_ignores_artifacts_without_a_span():
    resolved = newest_per_span([_examples(1, None), _examples(2, 1)], 1, 1)
    assert [a.id for a in resolved] == [2]


def test_a_span_never_ingested_is_named():
    expected = r"span range 1-4: no examples ingested for span\(s\) 2, 4"
    with pytest.raises(MissingSpans, match=expected):
        newest_per_span([_examples(1, 1), _examples(2, 3)], 1, 4)
