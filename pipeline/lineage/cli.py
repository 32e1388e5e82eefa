"""`lineage`: where did this model come from? A click group over pipeline.lineage.api.

    lineage runs                       the runs: when, state, what ran, what was cached
    lineage trace latest|vN|ID         a model's chain back to its data, blessings, metrics
    lineage impact ID                  what was made from an artifact
    lineage diff RUN_A RUN_B           what differed between two runs
    lineage graph --trace latest --format html --out lineage.html

Every command takes --mlmd (a SQLite file, mysql://, postgresql:// or grpc://; the
password in MLMD_PASSWORD) and --json. MLMD and TensorFlow are imported inside the
commands, after the environment is set, so that --help is instant.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import click

DEFAULT_MLMD = "outputs/metadata.db"
FORMATS = ("dot", "svg", "html")


def _prepare_environment() -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # TFX 1.16 runs on Keras 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # MLMD's C++ logs its own connection errors on stderr; the one-line error says it.
    os.environ.setdefault("GLOG_minloglevel", "3")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


@contextlib.contextmanager
def _answering() -> Iterator[None]:
    """Turns what a user can fix (a wrong store, target or run) into one line, exit 1."""
    from ml_metadata import errors as mlmd_errors

    from pipeline.lineage.api import LineageError
    from pipeline.lineage.store import StoreError

    try:
        yield
    except (StoreError, LineageError) as e:
        _fail(str(e).strip("'\""))
    except mlmd_errors.StatusError as e:
        _fail(f"ML Metadata: {' '.join(str(e).split())[:300]}")


def _mlmd_option(command):
    return click.option(
        "--mlmd",
        default=DEFAULT_MLMD,
        show_default=True,
        metavar="TARGET",
        help="SQLite file, mysql://USER@HOST:PORT/DB, postgresql://USER@HOST:PORT/DB or "
        "grpc://HOST:PORT; a server's password comes from $MLMD_PASSWORD.",
    )(command)


def _json_option(command):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(command)


def _open(mlmd: str):
    from pipeline.lineage.store import open_store

    return open_store(mlmd)


def _echo_json(data) -> None:
    from pipeline.lineage.render import to_json

    click.echo(to_json(data))


@click.group("lineage", context_settings={"help_option_names": ["-h", "--help"]})
def lineage() -> None:
    """Where did this model come from? Lineage from ML Metadata, local or Kubeflow."""
    _prepare_environment()


@lineage.command("runs")
@_mlmd_option
@_json_option
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the newest N runs.")
def runs_command(mlmd: str, as_json: bool, limit: int | None) -> None:
    """The pipeline runs: start, duration, state, push, what ran and what was cached."""
    from pipeline.lineage import api, render

    with _answering():
        found = api.runs(_open(mlmd), limit)
    if as_json:
        _echo_json([r.to_dict() for r in found])
    else:
        click.echo(render.runs_text(found))


@lineage.command("trace")
@click.argument("target", default="latest")
@_mlmd_option
@_json_option
@click.option("--no-metrics", is_flag=True, help="Skip reading TFMA's results (faster).")
def trace_command(target: str, mlmd: str, as_json: bool, no_metrics: bool) -> None:
    """Walk upstream from TARGET to the data: `latest` (the latest pushed model), `vN` or
    `version:N` (pushed serving version N), or an artifact id."""
    from pipeline.lineage import api, render

    with _answering():
        found = api.trace(_open(mlmd), target, with_metrics=not no_metrics)
    click.echo(render.to_json(found.to_dict()) if as_json else render.trace_text(found))


@lineage.command("impact")
@click.argument("artifact_id")
@_mlmd_option
@_json_option
def impact_command(artifact_id: str, mlmd: str, as_json: bool) -> None:
    """Walk downstream from ARTIFACT_ID (an id, `latest` or `vN`): the models and pushes
    made from it, and the runs that used it."""
    from pipeline.lineage import api, render

    with _answering():
        found = api.impact(_open(mlmd), artifact_id)
    click.echo(render.to_json(found.to_dict()) if as_json else render.impact_text(found))


@lineage.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@_mlmd_option
@_json_option
@click.option("--no-metrics", is_flag=True, help="Skip reading TFMA's results (faster).")
def diff_command(run_a: str, run_b: str, mlmd: str, as_json: bool, no_metrics: bool) -> None:
    """What differed between two runs (a name, a unique prefix, `latest` or `latest~N`):
    spans and fingerprints, schema, hyperparameters, model, metrics, cached components."""
    from pipeline.lineage import api, render

    with _answering():
        found = api.diff(_open(mlmd), run_a, run_b, with_metrics=not no_metrics)
    click.echo(render.to_json(found.to_dict()) if as_json else render.diff_text(found))


@lineage.command("graph")
@click.option("--run", "run_ref", default=None, help="Graph of one run (name, prefix, latest).")
@click.option("--trace", "trace_target", default=None, help="Graph of a trace (latest, vN, ID).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="[default: from --out, else dot]",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="File to write.  [default: stdout]",
)
@_mlmd_option
@_json_option
def graph_command(run_ref, trace_target, fmt, out_path, mlmd: str, as_json: bool) -> None:
    """The lineage graph of a run or of a trace (default: --trace latest) as DOT, SVG or a
    self-contained HTML page."""
    from pipeline.lineage import api, render

    if run_ref and trace_target:
        raise click.UsageError("give --run or --trace, not both")
    fmt = fmt or (
        out_path.suffix.lstrip(".") if out_path and out_path.suffix[1:] in FORMATS else "dot"
    )
    highlight, summary = None, ""
    with _answering():
        store = _open(mlmd)
        if run_ref:
            title = f"run {api.find_run(store, run_ref).name}"
            lineage_graph = api.run_graph(store, run_ref)
        else:
            found = api.trace(store, trace_target or "latest", with_metrics=fmt == "html")
            lineage_graph, highlight = found.lineage, found.target.id
            title = f"lineage of {found.target.label}" + (
                f" (serving version {found.version})" if found.version is not None else ""
            )
            summary = render.trace_text(found).split("\n\nLineage", 1)[0]
    if as_json:
        text = render.to_json({"title": title, **lineage_graph.to_dict()})
    elif fmt == "dot":
        text = render.to_dot(lineage_graph, title, highlight)
    elif fmt == "svg":
        text = render.to_svg(lineage_graph, title, highlight)
    else:
        text = render.to_html(lineage_graph, title, summary, highlight)
    if out_path is None:
        click.echo(text, nl=False)
        return
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(text)
    nodes = len(lineage_graph.artifacts) + len(lineage_graph.executions)
    click.echo(f"wrote {out_path}: {nodes} nodes, {len(lineage_graph.edges)} edges", err=True)
