"""`penguins`: run the pipeline, regenerate the data, compare schemas.

Heavy modules (TensorFlow, TFX) are imported inside the commands, after the
environment is set, so that `--help` is instant and Keras 2 is always the one used.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import click

from pipeline.config import (
    DEFAULT_DATA_ROOT,
    DEFAULT_OUTPUT,
    DEFAULT_SCHEMA,
    PipelineConfig,
    SpanSelection,
    TrainingConfig,
)
from pipeline.lineage.cli import lineage  # light: MLMD and TF load inside its commands


def _prepare_environment() -> None:
    # The TFX 1.16 family runs on Keras 2: this must be set before TensorFlow builds Keras.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Import-time notices of the Google client libraries, not actionable by a user here.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")


def _fail(message: str, code: int = 1) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def _check_data_root(data_root: Path, spans: SpanSelection) -> None:
    found = (
        sorted(p.name for p in data_root.glob("span-*") if p.is_dir()) if data_root.is_dir() else []
    )
    if not found:
        raise click.BadParameter(
            f"{data_root}: expected a folder of span-N/ folders", param_hint="--data"
        )
    missing = [str(n) for n in spans.spans() if f"span-{n}" not in found]
    if missing:
        raise click.BadParameter(
            f"span {', '.join(missing)} not in {data_root} (found: {', '.join(found)})",
            param_hint="--span",
        )


def _output_option(help_text: str):
    return click.option(
        "--output",
        "output_dir",
        type=click.Path(path_type=Path),
        default=DEFAULT_OUTPUT,
        show_default=True,
        help=help_text,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """Palmer penguins TFX pipeline: validated, tuned, evaluated, infra-validated, pushed."""
    _prepare_environment()


@main.command()
@click.option(
    "--data",
    "data_root",
    type=click.Path(path_type=Path),
    default=DEFAULT_DATA_ROOT,
    show_default="data/penguins",
    help="Folder of span-N/ folders, each holding CSV files.",
)
@_output_option("Where MLMD, artifacts, pushed models and logs go.")
@click.option(
    "--schema",
    "schema_path",
    type=click.Path(path_type=Path),
    default=DEFAULT_SCHEMA,
    show_default="schemas/penguins/schema.pbtxt",
    help="Curated schema to validate against.",
)
@click.option(
    "--span",
    default="latest",
    show_default=True,
    help="Spans to train on: 'latest', N, or a range A-B (each span ingested and validated).",
)
@click.option(
    "--from",
    "from_nodes",
    multiple=True,
    metavar="COMPONENT",
    help="Partial run: start at this component (repeatable).",
)
@click.option(
    "--to",
    "to_nodes",
    multiple=True,
    metavar="COMPONENT",
    help="Partial run: stop after this component (repeatable).",
)
@click.option(
    "--beam-arg",
    "beam_args",
    multiple=True,
    metavar="ARG",
    help="Passed to Beam, e.g. --beam-arg=--direct_num_workers=2 (repeatable).",
)
@click.option(
    "--train-steps", type=click.IntRange(1), default=TrainingConfig.train_steps, show_default=True
)
@click.option(
    "--tuner-trials", type=click.IntRange(1), default=TrainingConfig.tuner_trials, show_default=True
)
@click.option(
    "--accuracy-threshold",
    type=click.FloatRange(0, 1),
    default=PipelineConfig.accuracy_threshold,
    show_default=True,
    help="Evaluator blesses only models at least this accurate.",
)
@click.option(
    "--accept-drift",
    "accept_drift",
    multiple=True,
    metavar="FEATURE",
    help="Accept this feature's drift for this run ('all' for any); recorded in MLMD.",
)
@click.option(
    "--mlmd",
    default=None,
    metavar="TARGET",
    help="Record into this store instead of OUTPUT/metadata.db: a SQLite file, "
    "mysql://USER@HOST:PORT/DB or postgresql://USER@HOST:PORT/DB (password from $MLMD_PASSWORD).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON on stdout.")
def run(
    data_root,
    output_dir,
    schema_path,
    span,
    from_nodes,
    to_nodes,
    beam_args,
    train_steps,
    tuner_trials,
    accuracy_threshold,
    accept_drift,
    mlmd,
    as_json,
) -> None:
    """Run the whole pipeline (or part of it) locally, recording into ML Metadata."""
    try:
        spans = SpanSelection.parse(span)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--span") from None
    _check_data_root(data_root, spans)
    if not schema_path.is_file():
        raise click.BadParameter(f"{schema_path}: no such schema file", param_hint="--schema")
    config = PipelineConfig(
        data_root=data_root,
        output_dir=output_dir,
        schema_path=schema_path,
        spans=spans,
        training=TrainingConfig(train_steps=train_steps, tuner_trials=tuner_trials),
        accuracy_threshold=accuracy_threshold,
        beam_args=tuple(beam_args),
        accept_drift=tuple(accept_drift),
    )

    from pipeline import runner, summary

    connection = None
    if mlmd:
        from pipeline.lineage import store as mlmd_store

        try:
            mlmd_store.open_store(mlmd, writable=True)  # fails here, in one line
            connection = mlmd_store.recording_config(mlmd)
        except mlmd_store.StoreError as e:
            raise click.BadParameter(str(e), param_hint="--mlmd") from None

    console = sys.stderr  # the run sends library output to its log file, not here
    click.echo(f"penguins: running pipeline on {data_root} (span {spans}) → {output_dir}", err=True)
    progress = summary.Progress(console)
    try:
        report = runner.run(
            config,
            from_nodes=from_nodes,
            to_nodes=to_nodes,
            on_start=progress.start,
            on_end=progress.end,
            connection_config=connection,
        )
    except runner.UnknownComponent as e:
        _fail(str(e), code=2)
    except runner.PipelineFailed as e:
        log = f" (full log: {e.log_path})" if e.log_path else ""
        _fail(f"{e.node_id or 'pipeline'} failed: {e}{log}")
    if mlmd:
        report.paths["metadata"] = str(mlmd_store.parse(mlmd))  # never holds the password
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(summary.render(report), err=True)


@main.group()
def kubeflow() -> None:
    """Compile the pipeline for Kubeflow Pipelines v2 and deploy it."""


@kubeflow.command("compile")
@click.option("--image", required=True, help="Container image every task runs (see Dockerfile).")
@click.option(
    "--pipeline-root",
    required=True,
    help="Where artifacts go: minio://BUCKET/PATH, s3://BUCKET/PATH or gs://BUCKET/PATH "
    "(KFP's launcher accepts no other scheme).",
)
@click.option(
    "--data",
    "data_root",
    default=None,
    help="Folder of span-N/ folders as the tasks see it.  [default: the copy in the image]",
)
@click.option("--schema", "schema_file", default=None, help="Curated schema as the tasks see it.")
@click.option(
    "--serving-pvc",
    default="penguins-serving",
    show_default=True,
    help="PersistentVolumeClaim the Pusher writes pushed models to.",
)
@click.option(
    "--serving-mount",
    default="/mnt/serving",
    show_default=True,
    help="Where the Pusher sees that volume (on Vertex AI: /gcs/BUCKET/PATH, Cloud Storage FUSE).",
)
@click.option(
    "--target",
    type=click.Choice(["kfp", "vertex"]),
    default="kfp",
    show_default=True,
    help="vertex: one YAML document (Vertex AI reads no Kubernetes platform spec).",
)
@click.option("--span", default="latest", show_default=True, help="'latest' or a span number N.")
@click.option("--beam-arg", "beam_args", multiple=True, metavar="ARG", help="Repeatable.")
@click.option(
    "--output",
    "spec_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Spec file to write.  [default: kubeflow/pipeline.yaml]",
)
def kubeflow_compile(
    image,
    pipeline_root,
    data_root,
    schema_file,
    serving_pvc,
    serving_mount,
    target,
    span,
    beam_args,
    spec_path,
) -> None:
    """Compile the same pipeline with KubeflowV2DagRunner into a KFP v2 spec YAML."""
    from pipeline.kubeflow import compile as kfp_compile

    try:
        spans = SpanSelection.parse(span)
        if spans.is_range:
            raise ValueError(f"span range {spans} runs locally only; choose 'latest' or one span")
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--span") from None
    settings = kfp_compile.KubeflowSettings(
        image=image,
        pipeline_root=pipeline_root,
        data_root=data_root or kfp_compile.IMAGE_DATA_ROOT,
        schema_file=schema_file or kfp_compile.IMAGE_SCHEMA_FILE,
        serving_pvc=serving_pvc,
        serving_mount=serving_mount,
    )
    config = PipelineConfig(spans=spans, beam_args=tuple(beam_args))
    spec_path = spec_path or kfp_compile.DEFAULT_SPEC_PATH
    documents = kfp_compile.compile_spec(config, settings)
    if target == "vertex":
        documents = documents[:1]
    kfp_compile.write(documents, spec_path)
    tasks = documents[0]["root"]["dag"]["tasks"]
    click.echo(f"wrote {spec_path}: {len(tasks)} tasks, image {image}, root {pipeline_root}")


@kubeflow.command("deploy")
@click.option("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080.")
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Compiled spec.  [default: kubeflow/pipeline.yaml]",
)
@click.option("--pipeline-name", default="penguins", show_default=True)
@click.option("--experiment", default="penguins", show_default=True)
@click.option("--run-name", default=None, help="[default: pipeline name and time]")
@click.option("--namespace", default=None, help="Kubeflow profile namespace (multi-user KFP).")
@click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="File holding a bearer token.  [default: $KFP_TOKEN, else in a cluster the "
    "pod's KFP service-account token]",
)
@click.option(
    "--service-account",
    default=None,
    help="Kubernetes service account the run's pods use (kubeflow/manifests creates "
    "penguins-pipeline-runner).  [default: KFP's pipeline-runner]",
)
@click.option(
    "--pipeline-root",
    default=None,
    help="Where the run's artifacts go (minio://, s3://, gs://), sent in the run's runtime "
    "config as KFP reads it.  [default: the root the spec was compiled with]",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def kubeflow_deploy(
    host,
    spec_path,
    pipeline_root,
    pipeline_name,
    experiment,
    run_name,
    namespace,
    token_file,
    service_account,
    as_json,
) -> None:
    """Upload the spec (a new version when the pipeline exists) and start a run."""
    from pipeline.kubeflow import compile as kfp_compile
    from pipeline.kubeflow import deploy as kfp_deploy

    token = token_file.read_text().strip() if token_file else os.environ.get("KFP_TOKEN")
    try:
        result = kfp_deploy.deploy(
            spec_path or kfp_compile.DEFAULT_SPEC_PATH,
            host=host,
            pipeline_name=pipeline_name,
            experiment=experiment,
            run_name=run_name,
            namespace=namespace,
            token=token or None,
            service_account=service_account,
            pipeline_root=pipeline_root,
        )
    except kfp_deploy.DeployError as e:
        _fail(str(e))
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        action = "created pipeline" if result.created_pipeline else "new version of"
        click.echo(f"{action} {pipeline_name} ({result.version_name}); run {result.run_id}")
        click.echo(f"open {result.run_url}")


@main.command()
@click.argument("requests", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@_output_option("Output folder of a previous run (its MLMD is read).")
@click.option(
    "--schema",
    "schema_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=DEFAULT_SCHEMA,
    show_default="schemas/penguins/schema.pbtxt",
    help="Curated schema holding the skew thresholds.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def skew(requests: Path, output_dir: Path, schema_path: Path, as_json: bool) -> None:
    """Compare a JSONL log of serving requests with the served model's training data.

    Each line holds raw feature values, as the `serving_raw` signature takes them.
    Exits 1 when a feature is skewed beyond its threshold in the schema.
    """
    from ml_metadata import metadata_store
    from tfx.orchestration import metadata

    from pipeline import skew as skew_module

    metadata_path = output_dir / "metadata.db"
    if not metadata_path.is_file():
        _fail(f"{metadata_path}: no metadata store (run the pipeline first)")
    store = metadata_store.MetadataStore(
        metadata.sqlite_metadata_connection_config(str(metadata_path))
    )
    try:
        report = skew_module.check(store, requests, schema_path)
    except ValueError as e:
        _fail(str(e))
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(skew_module.render(report))
    if report.skewed:
        sys.exit(1)


@main.group()
def data() -> None:
    """Manage the bundled penguin data."""


@data.command("regenerate")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_DATA_ROOT,
    show_default="data/penguins",
)
def data_regenerate(out_dir: Path) -> None:
    """Rewrite span-N/ folders (one per year) from the palmerpenguins package's CSV."""
    from pipeline import data as data_module

    counts = data_module.write_spans(data_module.read_bundled_rows(), out_dir)
    for span, rows in counts.items():
        click.echo(f"{out_dir}/span-{span}/{data_module.SPAN_FILE_NAME}: {rows} rows")


@main.group()
def schema() -> None:
    """Compare the curated schema with what SchemaGen inferred."""


@schema.command("diff")
@_output_option("Output folder of a previous run (its MLMD is read).")
@click.option(
    "--inferred",
    type=click.Path(path_type=Path, dir_okay=False),
    help="An inferred schema.pbtxt to use instead of the latest SchemaGen output.",
)
@click.option(
    "--curated",
    type=click.Path(path_type=Path),
    default=DEFAULT_SCHEMA,
    show_default="schemas/penguins/schema.pbtxt",
)
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
def schema_diff(output_dir: Path, inferred: Path | None, curated: Path, as_json: bool) -> None:
    """Show how the schema inferred from the data differs from the curated one."""
    from pipeline import schema_diff as diff_module

    try:
        inferred_path = inferred or diff_module.latest_inferred_schema(output_dir)
        differences = diff_module.diff(diff_module.load(curated), diff_module.load(inferred_path))
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    if as_json:
        click.echo(
            json.dumps(
                {
                    "curated": str(curated),
                    "inferred": str(inferred_path),
                    "differences": [d.to_dict() for d in differences],
                },
                indent=2,
            )
        )
    else:
        click.echo(diff_module.render(differences, curated, inferred_path))


main.add_command(lineage)

if __name__ == "__main__":
    main()
