"""The `lineage` commands, called as penguins would call them (the group is registered in
pipeline/cli.py): readable tables, --json for scripts, one-line errors with exit code 1."""

import json

import pytest
from click.testing import CliRunner

from pipeline.lineage.cli import lineage
from pipeline.lineage.synthetic import demo_store


@pytest.fixture(scope="module")
def mlmd(tmp_path_factory):
    return str(demo_store(tmp_path_factory.mktemp("cli")))


def _run(*args):
    return CliRunner().invoke(lineage, list(args))


def test_help_lists_the_commands():
    result = _run("--help")
    assert result.exit_code == 0
    assert {"runs", "trace", "impact", "diff", "graph"} <= set(result.output.split())


def test_runs_table_and_json(mlmd):
    table = _run("runs", "--mlmd", mlmd)
    assert table.exit_code == 0
    assert table.output.splitlines()[0].split() == [
        "RUN",
        "STARTED",
        "TOOK",
        "STATE",
        "PUSHED",
        "RAN",
        "CACHED",
    ]
    assert "v2" in table.output
    runs = json.loads(_run("runs", "--mlmd", mlmd, "--json").stdout)
    assert [r["name"] for r in runs] == ["run-1", "run-2", "run-3"]
    assert "Trainer" in runs[2]["cached"]


def test_trace_latest_text_and_json(mlmd):
    text = _run("trace", "latest", "--mlmd", mlmd, "--no-metrics")
    assert text.exit_code == 0 and "serving version 2" in text.output
    data = json.loads(_run("trace", "v1", "--mlmd", mlmd, "--no-metrics", "--json").stdout)
    assert data["version"] == 1 and data["made_by"]["component"] == "Pusher"
    assert {a["type"] for a in data["artifacts"]} >= {"Examples", "Schema", "Model", "PushedModel"}


def test_impact_and_diff(mlmd):
    trace = json.loads(_run("trace", "--mlmd", mlmd, "--no-metrics", "--json").stdout)
    span_1 = next(a["id"] for a in trace["artifacts"] if a["properties"].get("span") == 1)
    impact = _run("impact", str(span_1), "--mlmd", mlmd)
    assert (
        impact.exit_code == 0
        and "v1 (artifact" in impact.output
        and "v2 (artifact" in impact.output
    )
    diff = json.loads(
        _run("diff", "run-1", "run-2", "--mlmd", mlmd, "--no-metrics", "--json").stdout
    )
    assert {"what": "spans", "a": [1], "b": [1, 2]} in diff["changes"]
    text = _run("diff", "run-1", "run-2", "--mlmd", mlmd, "--no-metrics")
    assert "hyperparameters.learning_rate" in text.output


@pytest.mark.parametrize("fmt", ["dot", "svg", "html"])
def test_graph_of_a_trace_in_each_format(mlmd, tmp_path, fmt):
    out = tmp_path / f"lineage.{fmt}"
    result = _run("graph", "--trace", "v1", "--out", str(out), "--mlmd", mlmd)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert {"dot": "digraph", "svg": "<svg", "html": "<!DOCTYPE html>"}[fmt] in text[:200]


def test_graph_of_a_run_to_stdout_and_json(mlmd):
    dot = _run("graph", "--run", "run-3", "--format", "dot", "--mlmd", mlmd)
    assert dot.exit_code == 0 and dot.output.startswith("digraph")
    data = json.loads(_run("graph", "--run", "run-3", "--json", "--mlmd", mlmd).stdout)
    assert data["title"] == "run run-3" and data["executions"]


def test_graph_refuses_both_run_and_trace(mlmd):
    result = _run("graph", "--run", "run-1", "--trace", "latest", "--mlmd", mlmd)
    assert result.exit_code == 2 and "not both" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("runs", "--mlmd", "missing.db"), "missing.db: no such ML Metadata file"),
        (("runs", "--mlmd", "mysql://me:hunter2@db/metadb"), "holds a password"),
        (
            ("runs", "--mlmd", "mysql://me@127.0.0.1:1/metadb"),
            "cannot open ML Metadata at mysql://me@127.0.0.1:1/metadb",
        ),
        (("runs", "--mlmd", "redis://db"), "unknown store redis://"),
        (("trace", "v7"), "no pushed serving version 7"),
        (("diff", "run-1", "nope"), "no run named 'nope'"),
    ],
)
def test_errors_are_one_line_exit_1_without_secrets(mlmd, monkeypatch, args, message):
    monkeypatch.setenv("MLMD_PASSWORD", "hunter2")
    if "--mlmd" not in args:
        args = (*args, "--mlmd", mlmd)
    result = _run(*args)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
