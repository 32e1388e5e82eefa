"""Span selection: what `--span` accepts and what it means."""

import pytest

from pipeline.config import SpanSelection


@pytest.mark.parametrize(
    ("text", "first", "last", "is_range", "spans"),
    [
        ("latest", None, None, False, []),
        ("", None, None, False, []),
        ("2", 2, 2, False, [2]),
        ("1-3", 1, 3, True, [1, 2, 3]),
        ("4-4", 4, 4, False, [4]),
    ],
)
def test_parse(text, first, last, is_range, spans):
    selection = SpanSelection.parse(text)
    assert (selection.first, selection.last) == (first, last)
    assert selection.is_range is is_range
    assert selection.spans() == spans


@pytest.mark.parametrize("text", ["0", "two", "3-1", "1-", "-2", "1-2-3", "1..3"])
def test_parse_refuses(text):
    with pytest.raises(ValueError, match="range A-B with A <= B"):
        SpanSelection.parse(text)


def test_str_round_trips():
    for text in ("latest", "2", "1-3"):
        assert str(SpanSelection.parse(text)) == text
