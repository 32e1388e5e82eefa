"""The CLI's argument checks: clear one-line errors before anything runs."""

from click.testing import CliRunner

from pipeline.cli import main


def _run(*args):
    return CliRunner().invoke(main, list(args))


def test_help_lists_the_commands():
    result = _run("--help")
    assert result.exit_code == 0
    assert {"run", "schema", "data"} <= set(result.output.split())


def test_data_folder_without_spans_is_refused(tmp_path):
    result = _run("run", "--data", str(tmp_path), "--output", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "--data" in result.output and "span-N" in result.output
    assert not (tmp_path / "out").exists()


def test_unknown_span_is_refused(tmp_path):
    result = _run("run", "--span", "9", "--output", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "span 9 not in" in result.output


def test_bad_span_text_is_refused(tmp_path):
    result = _run("run", "--span", "two", "--output", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "'latest', a span number" in result.output


def test_reversed_span_range_is_refused(tmp_path):
    result = _run("run", "--span", "3-1", "--output", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "range A-B with A <= B" in result.output
    assert not (tmp_path / "out").exists()


def test_span_range_with_a_missing_span_is_refused(tmp_path):
    result = _run("run", "--span", "2-5", "--output", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "span 4, 5 not in" in result.output


def test_missing_schema_is_refused(tmp_path):
    result = _run("run", "--schema", str(tmp_path / "nope.pbtxt"), "--output", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert "nope.pbtxt" in result.output


def test_schema_diff_without_a_store_says_so(tmp_path):
    result = _run("schema", "diff", "--output", str(tmp_path))
    assert result.exit_code == 1
    assert "no metadata store" in result.output
