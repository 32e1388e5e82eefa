"""Runs the pipeline locally with TFX's LocalDagRunner, reports progress per component,
and summarises the run from ML Metadata."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path

from tfx.dsl.compiler import constants
from tfx.orchestration import metadata
from tfx.orchestration.local import runner_utils
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.portable import launcher, partial_run_utils, runtime_parameter_utils
from tfx.proto.orchestration import pipeline_pb2

from components.errors import DataAnomaliesError
from pipeline import compiled, mlmd, speedups
from pipeline.config import PipelineConfig, SpanSelection


class UnknownComponent(ValueError):
    """--from/--to named a component the pipeline does not have."""


class PipelineFailed(RuntimeError):
    """A component failed; `node_id` says which, the message says why in one line."""

    def __init__(self, node_id: str | None, message: str, log_path: Path | None):
        super().__init__(message)
        self.node_id = node_id
        self.log_path = log_path


@dataclasses.dataclass
class NodeReport:
    node_id: str
    state: str  # ran | cached | failed | skipped
    seconds: float
    span: int | None = None  # set in the ingest passes of a span range

    @property
    def label(self) -> str:
        return self.node_id if self.span is None else f"{self.node_id} [span {self.span}]"


@dataclasses.dataclass
class RunReport:
    run_id: str
    nodes: list[NodeReport]
    spans: list[int]  # the spans Transform and Trainer used
    pushed: bool
    push: dict
    blessings: dict
    metrics: dict
    paths: dict
    seconds: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class ObservedLocalDagRunner(LocalDagRunner):
    """TFX's LocalDagRunner, telling an observer about each component, and running two
    components at once where neither depends on the other.

    Each component is launched as LocalDagRunner.run_with_ir (tfx 1.16) launches it: same
    launcher, same MLMD records, same partial-run marking. LocalDagRunner launches one at a
    time; here a component starts as soon as every component it depends on has finished,
    at most `parallel` at once (the Evaluator and the InfraValidator overlap: the second
    serves the model from a separate process, on the other core). Each launch has its
    own MLMD connection; MLMD holds the GIL for each call, so calls never interleave.

    `on_start` and `on_end` are called from the calling thread; `on_end` gets the id of
    the execution the launcher recorded (None when the node was skipped). The runner
    keeps the run id, and the component that failed, if one did, and how long it ran.
    After a failure nothing new starts; a component already running finishes.
    """

    def __init__(
        self,
        on_start: Callable[[str], None],
        on_end: Callable[[str, int | None, float], None],
        parallel: int = 2,
    ):
        super().__init__()
        self._on_start, self._on_end = on_start, on_end
        self._parallel = parallel
        self.run_id = ""
        self.failed: str | None = None
        self.failed_after = 0.0  # seconds the failed component ran
        self._started: dict[str, float] = {}

    def run_with_ir(self, pipeline: pipeline_pb2.Pipeline, run_options=None) -> None:
        self.run_id = datetime.datetime.now().isoformat()
        runtime_parameter_utils.substitute_runtime_parameter(
            pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: self.run_id}
        )
        deployment_config = runner_utils.extract_local_deployment_config(pipeline)
        connection_config = getattr(
            deployment_config.metadata_connection_config,
            deployment_config.metadata_connection_config.WhichOneof("connection_config"),
        )
        if run_options:
            partial_run_utils.mark_pipeline(
                pipeline,
                from_nodes=run_options.partial_run.from_nodes or None,
                to_nodes=run_options.partial_run.to_nodes or None,
                snapshot_settings=run_options.partial_run.snapshot_settings,
            )

        def launch(pipeline_node) -> int | None:
            node_id = pipeline_node.node_info.id
            if pipeline_node.execution_options.run.perform_snapshot:
                with metadata.Metadata(connection_config) as handle:
                    partial_run_utils.snapshot(handle, pipeline)
            execution_info = launcher.Launcher(
                pipeline_node=pipeline_node,
                mlmd_connection=metadata.Metadata(connection_config),
                pipeline_info=pipeline.pipeline_info,
                pipeline_runtime_spec=pipeline.runtime_spec,
                executor_spec=runner_utils.extract_executor_spec(deployment_config, node_id),
                custom_driver_spec=runner_utils.extract_custom_driver_spec(
                    deployment_config, node_id
                ),
            ).launch()
            return execution_info.execution_id if execution_info else None

        nodes = [node.pipeline_node for node in pipeline.nodes]  # in topological order
        done = {n.node_info.id for n in nodes if n.execution_options.HasField("skip")}
        waiting = [n for n in nodes if n.node_info.id not in done]
        # A partial run's first component copies the previous run's outputs into this
        # run (the snapshot) that the others then read: it runs alone.
        snapshot = [n for n in waiting if n.execution_options.run.perform_snapshot]
        running: dict[futures.Future, str] = {}
        error: BaseException | None = None
        with futures.ThreadPoolExecutor(max_workers=self._parallel) as pool:
            while waiting or running:
                ready = [n for n in waiting if done.issuperset(n.upstream_nodes)]
                if snapshot and snapshot[0].node_info.id not in done:
                    ready = [n for n in ready if n is snapshot[0] and not running]
                # After a failure nothing new starts; what is running finishes.
                for node in ready[: self._parallel - len(running)] if error is None else []:
                    waiting.remove(node)
                    node_id = node.node_info.id
                    self._started[node_id] = time.monotonic()
                    self._on_start(node_id)
                    running[pool.submit(launch, node)] = node_id
                if not running:
                    if error is None:
                        ids = ", ".join(n.node_info.id for n in waiting)
                        raise RuntimeError(f"{ids}: waiting on components that never ran")
                    break
                finished, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
                for future in finished:
                    node_id = running.pop(future)
                    seconds = time.monotonic() - self._started[node_id]
                    if future.exception() is not None:
                        if error is None:
                            error, self.failed, self.failed_after = (
                                future.exception(),
                                node_id,
                                seconds,
                            )
                        continue
                    done.add(node_id)
                    self._on_end(node_id, future.result(), seconds)
        if error is not None:
            raise error


@contextlib.contextmanager
def _output_to_file(log_path: Path) -> Iterator[None]:
    """Sends every log record (TFX, Beam, TF) and everything printed (keras-tuner prints)
    to `log_path`, so that the console shows only the run's own progress."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    loggers = [logging.getLogger(name) for name in ("", "absl", "tensorflow")]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate) for lg in loggers]
    with open(log_path, "a", buffering=1) as log_file:
        handler = logging.StreamHandler(log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        for lg in loggers:
            lg.handlers, lg.propagate = [], True
            lg.setLevel(logging.INFO)
        loggers[0].handlers = [handler]
        logging.captureWarnings(True)
        try:
            with contextlib.redirect_stdout(log_file), contextlib.redirect_stderr(log_file):
                yield
        finally:
            logging.captureWarnings(False)
            for lg, handlers, level, propagate in saved:
                lg.handlers, lg.propagate = handlers, propagate
                lg.setLevel(level)


@dataclasses.dataclass(frozen=True)
class _Pass:
    """One LocalDagRunner run: the ingest of an earlier span of a range, or the main run."""

    config: PipelineConfig
    from_nodes: tuple[str, ...] = ()
    to_nodes: tuple[str, ...] = ()
    span: int | None = None

    def run_options(self) -> pipeline_pb2.RunOptions | None:
        """A partial run, its missing inputs taken from the latest run (as TFX's default)."""
        if not (self.from_nodes or self.to_nodes):
            return None
        options = pipeline_pb2.RunOptions()
        options.partial_run.snapshot_settings.latest_pipeline_run_strategy.SetInParent()
        options.partial_run.from_nodes.extend(self.from_nodes)
        options.partial_run.to_nodes.extend(self.to_nodes)
        return options


INGEST_UNTIL = "DataGate"


def _passes(
    config: PipelineConfig, from_nodes: tuple[str, ...], to_nodes: tuple[str, ...]
) -> list[_Pass]:
    """A span range A-B first ingests and validates spans A..B-1, one pass each (ExampleGen
    reads one span per execution; a span seen before is a cache hit), then runs the
    pipeline on span B with every span of the range as training data. A run that starts
    part-way (--from) relies on the spans being ingested already."""
    ingest = []
    if config.spans.is_range and not from_nodes:
        ingest = [
            _Pass(
                dataclasses.replace(config, spans=SpanSelection(span, span)),
                to_nodes=(INGEST_UNTIL,),
                span=span,
            )
            for span in config.spans.spans()[:-1]
        ]
    return [*ingest, _Pass(config, from_nodes, to_nodes)]


def run(
    config: PipelineConfig,
    *,
    from_nodes: tuple[str, ...] = (),
    to_nodes: tuple[str, ...] = (),
    on_start: Callable[[str], None] = lambda label: None,
    on_end: Callable[[NodeReport], None] = lambda report: None,
    connection_config=None,
) -> RunReport:
    """Runs the pipeline for `config` and returns what happened. `on_start` gets the
    label of each component as it starts, `on_end` its report when it ends.

    Raises PipelineFailed with a one-line reason when a component fails.
    """
    config = config.resolved()
    speedups.apply()
    connection_config = connection_config or compiled.sqlite_connection(config)
    node_ids = [n.pipeline_node.node_info.id for n in compiled.ir(config, connection_config).nodes]
    for node_id in (*from_nodes, *to_nodes):
        if node_id not in node_ids:
            raise UnknownComponent(
                f"unknown component {node_id!r}; components: {', '.join(node_ids)}"
            )

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_path = config.output_dir / "logs" / f"run-{stamp}.log"
    store = metadata.Metadata(connection_config)
    reports: list[NodeReport] = []
    started = time.monotonic()
    with _output_to_file(log_path):
        for one_pass in _passes(config, from_nodes, to_nodes):
            run_id = _execute(one_pass, connection_config, reports, on_start, on_end, log_path)
        with store as m:  # TFMA's loader warns on the way: keep that in the log too
            report = summarize(m.store, config, run_id)
    report.nodes = reports
    report.seconds = time.monotonic() - started
    report.paths["log"] = str(log_path)
    return report


def _execute(
    one_pass: _Pass,
    connection_config,
    reports: list[NodeReport],
    on_start: Callable[[str], None],
    on_end: Callable[[NodeReport], None],
    log_path: Path,
) -> str:
    """Runs one pass, appending a report per component; returns the pass's run id."""
    store = metadata.Metadata(connection_config)

    def finished(node_id: str, execution_id: int | None, seconds: float) -> None:
        state = "skipped"
        if execution_id is not None:
            with store as m:
                (execution,) = m.store.get_executions_by_id([execution_id])
            state = mlmd.NodeExecution(node_id, execution).state
        reports.append(NodeReport(node_id, state, seconds, one_pass.span))
        on_end(reports[-1])

    dag_runner = ObservedLocalDagRunner(
        lambda node_id: on_start(NodeReport(node_id, "running", 0.0, one_pass.span).label),
        finished,
    )
    try:
        dag_runner.run_with_ir(
            compiled.ir(one_pass.config, connection_config),
            run_options=one_pass.run_options(),
        )
    except Exception as e:
        node_id = dag_runner.failed
        if node_id:
            reports.append(NodeReport(node_id, "failed", dag_runner.failed_after, one_pass.span))
            on_end(reports[-1])
        where = f" (span {one_pass.span})" if one_pass.span is not None else ""
        raise PipelineFailed(node_id, _one_line(e) + where, log_path) from e
    return dag_runner.run_id


def _one_line(error: BaseException) -> str:
    """The most telling single line for a failure: the data gate's own message if any."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, DataAnomaliesError):
            return str(cause)
        cause = cause.__cause__ or cause.__context__
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text[:500]}"


def summarize(store, config: PipelineConfig, run_id: str) -> RunReport:
    """What run `run_id` pushed (or why not), its blessings and key metrics."""
    run_context = store.get_context_by_type_and_name(mlmd.PIPELINE_RUN_CONTEXT, run_id)
    executions = mlmd.node_executions(store, run_context.id) if run_context else {}

    def outputs(node_id: str) -> dict:
        execution = executions.get(node_id)
        return mlmd.output_artifacts(store, execution.execution.id) if execution else {}

    blessings = {}
    model_blessing = outputs("Evaluator").get("blessing", [None])[0]
    if model_blessing is not None:
        blessings["model"] = {"blessed": bool(mlmd.custom(model_blessing, "blessed", 0))}
    infra_blessing = outputs("InfraValidator").get("blessing", [None])[0]
    if infra_blessing is not None:
        blessings["infra"] = {
            "blessed": bool(mlmd.custom(infra_blessing, "blessed", 0)),
            "reason": mlmd.custom(infra_blessing, "reason", ""),
            **{
                k: mlmd.custom(infra_blessing, k)
                for k in ("load_seconds", "latency_p50_ms", "latency_p95_ms")
                if mlmd.custom(infra_blessing, k) is not None
            },
        }

    push: dict = {}
    pushed_model = outputs("Pusher").get("pushed_model", [None])[0]
    if pushed_model is not None:
        push = {
            "pushed": bool(mlmd.custom(pushed_model, "pushed", 0)),
            "version": mlmd.custom(pushed_model, "serving_version"),
            "path": mlmd.custom(pushed_model, "serving_path"),
            "reason": mlmd.custom(pushed_model, "reason", ""),
        }
        if executions["Pusher"].state == "cached":  # an earlier run's push, not this one's
            push.update(pushed=False, reason="nothing changed since that push (cached)")
    else:
        why = [f"{k} blessing withheld" for k, v in blessings.items() if not v["blessed"]]
        push = {"pushed": False, "reason": "; ".join(why) or "Pusher did not run"}

    transform = executions.get("Transform")
    spans = sorted(
        mlmd.custom(examples, "span")
        for examples in (
            mlmd.input_artifacts(store, transform.execution.id).get("examples", [])
            if transform
            else []
        )
    )

    metrics = {}
    evaluation = outputs("Evaluator").get("evaluation", [None])[0]
    if evaluation is not None:
        metrics = compiled.memoized(
            config, f"evaluation-{evaluation.id}", lambda: evaluation_metrics(evaluation.uri)
        )

    return RunReport(
        run_id=run_context.name if run_context else "",
        nodes=[],
        spans=spans,
        pushed=push["pushed"],
        push=push,
        blessings=blessings,
        metrics=metrics,
        paths={
            "pipeline_root": str(config.pipeline_root),
            "metadata": str(config.metadata_path),
            "serving": str(config.serving_dir),
        },
        seconds=0.0,
    )


def evaluation_metrics(uri: str) -> dict:
    """Accuracy and example count of the candidate model, overall and per slice."""
    import tensorflow_model_analysis as tfma

    # With a baseline the candidate's metrics are stored under "candidate", without one unnamed.
    eval_result = tfma.load_eval_result(uri, model_name="candidate")
    if not eval_result.slicing_metrics:
        eval_result = tfma.load_eval_result(uri)
    result: dict[str, dict] = {}
    for slice_key, by_output in eval_result.slicing_metrics:
        name = ", ".join(f"{k}={v}" for k, v in slice_key) or "overall"
        values = by_output.get("", {}).get("", {})
        result[name] = {
            metric: values[metric].get("doubleValue")
            for metric in ("sparse_categorical_accuracy", "example_count")
            if metric in values
        }
    return dict(sorted(result.items(), key=lambda kv: (kv[0] != "overall", kv[0])))
