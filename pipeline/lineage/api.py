"""Where did this model come from? Answers from ML Metadata, as plain dataclasses.

    runs(store)                   the pipeline runs: when, state, what ran and what was cached
    trace(store, target)          a model's lineage, upstream to the data, with its blessings
                                  and metrics; target: `latest` (the latest pushed model),
                                  `vN` or `version:N` (pushed serving version N), or an
                                  artifact id
    impact(store, artifact_id)    what was made from an artifact, downstream
    diff(store, run_a, run_b)     what differed between two runs
    run_graph(store, run)         one run's lineage graph

Runs are named by their name (TFX: the run id, an ISO time; KFP: the run's UUID), any
unique prefix of it, `latest`, or `latest~N` (the Nth run before the latest).
Works on stores written by TFX's local runner and by Kubeflow Pipelines v2 (see layout).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from ml_metadata import metadata_store
from ml_metadata.metadata_store import ListOptions, OrderByField
from ml_metadata.proto import metadata_store_pb2

from pipeline.lineage import layout
from pipeline.lineage.graph import CHECKS, ArtifactNode, ExecutionNode, Lineage, Walker, merge

PUSHED_MODEL_TYPES = ("PushedModel", "tfx.PushedModel", "system.Artifact")
HYPERPARAMETERS_FILE = "best_hyperparameters.txt"
SCHEMA_FILE = "schema.pbtxt"


class LineageError(LookupError):
    """What was asked for is not in the store; the message says so in one line."""


def _when(ms: int) -> str:
    if not ms:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000).isoformat(timespec="seconds")


# -- runs ------------------------------------------------------------------------------------


@dataclasses.dataclass
class RunSummary:
    name: str
    context_id: int
    pipeline: str
    started: str
    ended: str
    seconds: float
    state: str  # complete | failed | running
    components: dict[str, str]  # component id -> ran | cached | failed | skipped | running
    pushed_version: int | None

    @property
    def ran(self) -> list[str]:
        return [c for c, s in self.components.items() if s == "ran"]

    @property
    def cached(self) -> list[str]:
        return [c for c, s in self.components.items() if s == "cached"]

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "ran": self.ran, "cached": self.cached}


def runs(store: metadata_store.MetadataStore, limit: int | None = None) -> list[RunSummary]:
    """Every pipeline run, oldest first (the newest `limit` when given)."""
    contexts = sorted(_run_contexts(store), key=lambda c: (c.create_time_since_epoch, c.id))
    if limit:
        contexts = contexts[-limit:]
    components = _components_by_execution(store)
    summaries = []
    for context in contexts:
        executions = [e for e in store.get_executions_by_context(context.id) if layout.is_task(e)]
        newest: dict[str, metadata_store_pb2.Execution] = {}
        for execution in sorted(executions, key=lambda e: e.id):
            name = components.get(execution.id) or layout.component(execution, [])
            newest[name] = execution
        summaries.append(_summary(store, context, newest))
    _add_pushed_versions(store, summaries, components)
    return summaries


def _run_contexts(store) -> list[metadata_store_pb2.Context]:
    return [c for t in layout.RUN_CONTEXT_TYPES for c in store.get_contexts_by_type(t)]


def _components_by_execution(store) -> dict[int, str]:
    """Execution id -> component id, from TFX's node contexts (one call per component,
    rather than one per execution). KFP names tasks on the execution itself."""
    found = {}
    for node in store.get_contexts_by_type(layout.NODE_CONTEXT_TYPE):
        component = node.name.split(".", 1)[-1]
        for execution in store.get_executions_by_context(node.id):
            found[execution.id] = component
    return found


def _summary(store, context, newest: dict[str, metadata_store_pb2.Execution]) -> RunSummary:
    states = {name: layout.state(e) for name, e in newest.items()}
    started = min((e.create_time_since_epoch for e in newest.values()), default=0)
    ended = max((e.last_update_time_since_epoch for e in newest.values()), default=0)
    if "failed" in states.values():
        state = "failed"
    elif "running" in states.values():
        state = "running"
    else:
        state = "complete"
    parents = store.get_parent_contexts_by_context(context.id)
    return RunSummary(
        name=context.name,
        context_id=context.id,
        pipeline=layout.pipeline_name(parents),
        started=_when(started or context.create_time_since_epoch),
        ended=_when(ended),
        seconds=round((ended - started) / 1000, 1) if started and ended else 0.0,
        state=state,
        components=states,
        pushed_version=None,
    )


def _add_pushed_versions(store, summaries: list[RunSummary], components: dict[int, str]) -> None:
    """Which serving version each run pushed, from its pushed-model artifacts (two calls)."""
    by_run = {s.context_id: s for s in summaries}
    if not by_run:
        return
    walker = Walker(store)
    pushed = [
        a
        for a in walker.store.get_artifacts(list_options=ListOptions(filter_query=_pushed_filter()))
    ]
    events = walker.events_of_artifacts(a.id for a in pushed)
    made_by = {e.artifact_id: e.execution_id for e in events if e.type in layout.OUTPUT_EVENTS}
    executions = walker.executions(set(made_by.values()))
    by_name = {s.name: s for s in summaries}
    for artifact in pushed:
        execution = executions.get(made_by.get(artifact.id))
        summary = by_name.get(execution.run) if execution else None
        if summary is not None:
            summary.pushed_version = layout.prop(artifact, "serving_version")


# -- finding things ----------------------------------------------------------------------------


def _pushed_filter(version: int | None = None) -> str:
    """An MLMD filter for pushed models that were really pushed (`pushed` is 1: an
    identical model is not pushed again), in either layout (ints locally, doubles on KFP)."""
    types = ", ".join(f"'{t}'" for t in PUSHED_MODEL_TYPES)
    parts = [f"type IN ({types})", _number_is("pushed", 1)]
    if version is not None:
        parts.append(_number_is("serving_version", version))
    return " AND ".join(parts)


def _number_is(key: str, number: int) -> str:
    return (
        f"(custom_properties.{key}.int_value = {number}"
        f" OR custom_properties.{key}.double_value = {number})"
    )


def find_artifact(store: metadata_store.MetadataStore, target: str) -> metadata_store_pb2.Artifact:
    """`latest`, `vN`/`version:N` (a pushed serving version) or an artifact id."""
    text = str(target).strip().lower()
    version = None
    if text.startswith("version:"):
        version = text[len("version:") :]
    elif text.startswith("v") and text[1:].isdigit():
        version = text[1:]
    if text == "latest" or version is not None:
        if version is not None and not version.isdigit():
            raise LineageError(f"expected version:N, got {target!r}")
        query = _pushed_filter(int(version) if version is not None else None)
        found = store.get_artifacts(
            list_options=ListOptions(
                filter_query=query, order_by=OrderByField.CREATE_TIME, is_asc=False, limit=1
            )
        )
        if not found:
            what = f"serving version {version}" if version else "model"
            raise LineageError(f"no pushed {what} in this store")
        return found[0]
    if text.isdigit():
        found = store.get_artifacts_by_id([int(text)])
        if not found:
            raise LineageError(f"no artifact with id {text}")
        return found[0]
    raise LineageError(
        f"unknown target {target!r}: use 'latest', a version like v1, or an artifact id"
    )


def find_run(store: metadata_store.MetadataStore, ref: str) -> metadata_store_pb2.Context:
    """A run context by name, unique name prefix, `latest` or `latest~N`."""
    contexts = sorted(_run_contexts(store), key=lambda c: (c.create_time_since_epoch, c.id))
    if not contexts:
        raise LineageError("no pipeline runs in this store")
    ref = str(ref).strip()
    base, _, back = ref.partition("~")
    if base == "latest":
        if back and not back.isdigit():
            raise LineageError(f"expected latest~N, got {ref!r}")
        index = len(contexts) - 1 - int(back or 0)
        if index < 0:
            raise LineageError(f"{ref}: the store holds only {len(contexts)} runs")
        return contexts[index]
    exact = [c for c in contexts if c.name == ref]
    matches = exact or [c for c in contexts if c.name.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise LineageError(f"no run named {ref!r} (see `lineage runs`)")
    raise LineageError(f"{ref!r} names {len(matches)} runs; give more of the name")


# -- trace -------------------------------------------------------------------------------------


@dataclasses.dataclass
class Trace:
    """A model's lineage: the target artifact, every artifact upstream of it with the
    execution that made it, the checks on its data, and what allowed the push."""

    target: ArtifactNode
    made_by: ExecutionNode | None
    lineage: Lineage
    blessings: dict[str, dict]  # model | infra -> blessed, artifact id, details
    metrics: dict  # slice -> metric -> value (the candidate model's)
    metrics_note: str  # why there are no metrics, when there are none
    hyperparameters: dict

    @property
    def version(self) -> int | None:
        return self.target.properties.get("serving_version")

    def shape(self) -> list[tuple[str, str, str, str]]:
        """The chain without ids, URIs or times: (producer, artifact type, key,
        consumer) for every edge. Equal shapes mean the same chain on two stores."""
        return shape(self.lineage)

    def to_dict(self) -> dict:
        return {
            "target": dataclasses.asdict(self.target),
            "made_by": dataclasses.asdict(self.made_by) if self.made_by else None,
            "version": self.version,
            "blessings": self.blessings,
            "metrics": self.metrics,
            "metrics_note": self.metrics_note,
            "hyperparameters": self.hyperparameters,
            **self.lineage.to_dict(),
        }


def trace(
    store: metadata_store.MetadataStore, target: str = "latest", *, with_metrics: bool = True
) -> Trace:
    """Walks upstream from `target` (see find_artifact) to the examples it came from, and
    adds the checks on each set of examples: its statistics, their anomalies and drift."""
    artifact = find_artifact(store, target)
    walker = Walker(store)
    lineage = walker.upstream([artifact.id])
    examples = [a.id for a in lineage.of_type("Examples")]
    statistics = walker.checks_of(examples, {"statistics"})
    made = {e.artifact for e in statistics if e.direction == "out"}
    checks = walker.checks_of(made, {k for k, subject in CHECKS.items() if subject == "statistics"})
    lineage = merge(lineage, walker.build(statistics | checks))
    metrics, note = _metrics(lineage) if with_metrics else ({}, "not read")
    return Trace(
        target=lineage.artifacts[artifact.id],
        made_by=lineage.producer(artifact.id),
        lineage=lineage,
        blessings=_blessings(lineage),
        metrics=metrics,
        metrics_note=note,
        hyperparameters=_hyperparameters(lineage),
    )


def shape(lineage: Lineage) -> list[tuple[str, str, str, str]]:
    found = set()
    for edge in lineage.edges:
        artifact = lineage.artifacts[edge.artifact]
        execution = lineage.executions[edge.execution]
        if edge.direction == "in":
            producer = lineage.producer(edge.artifact)
            found.add(
                (
                    producer.component if producer else "",
                    artifact.type,
                    edge.key,
                    execution.component,
                )
            )
        else:
            found.add((execution.component, artifact.type, edge.key, ""))
    return sorted(found)


def _blessings(lineage: Lineage) -> dict[str, dict]:
    found = {}
    for name, type_name in (("model", "ModelBlessing"), ("infra", "InfraBlessing")):
        for artifact in lineage.of_type(type_name):
            producer = lineage.producer(artifact.id)
            found[name] = {
                "blessed": bool(artifact.properties.get("blessed", 0)),
                "artifact": artifact.id,
                "by": producer.component if producer else "",
                **{k: v for k, v in artifact.properties.items() if k != "blessed"},
            }
    return found


def _metrics(lineage: Lineage) -> tuple[dict, str]:
    """The candidate model's metrics, read by TFMA from the evaluation's files."""
    evaluations = lineage.of_type("ModelEvaluation")
    if not evaluations:
        return {}, "no evaluation in this lineage"
    return read_metrics(evaluations[-1].uri)


def read_metrics(uri: str) -> tuple[dict, str]:
    """(metrics, note): TFMA's results at `uri`, or why they cannot be read from here."""
    from pipeline.runner import evaluation_metrics  # TFMA: imported only when needed

    try:
        with _quiet_loggers("absl", "tensorflow"):  # TFMA's loader warns on the way
            metrics = evaluation_metrics(uri)
    except Exception as e:  # TFMA raises many kinds; the reason is what matters here
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        return {}, f"cannot read the evaluation at {uri}: {reason}"
    return metrics, "" if metrics else f"no metrics found in the evaluation at {uri}"


@contextlib.contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _local_file(uri: str, name: str) -> Path | None:
    path = Path(uri) / name
    return path if "://" not in uri and path.is_file() else None


def _hyperparameters(lineage: Lineage) -> dict:
    found = lineage.of_type("HyperParameters")
    return read_hyperparameters(found[-1].uri) if found else {}


def read_hyperparameters(uri: str) -> dict:
    """The Tuner's best values (keras-tuner's JSON, `values`), when the file is local."""
    path = _local_file(uri, HYPERPARAMETERS_FILE)
    if path is None:
        return {}
    return json.loads(path.read_text()).get("values", {})


def schema_digest(uri: str) -> str | None:
    """A short content hash of a schema, so that two schema artifacts can be compared."""
    path = _local_file(uri, SCHEMA_FILE)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path else None


# -- impact ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Impact:
    source: ArtifactNode
    lineage: Lineage
    models: list[int]  # Model artifacts made from the source
    pushes: list[dict]  # serving versions really pushed from those models: version, artifact, run
    runs: list[str]  # runs that used the source or anything made from it

    def to_dict(self) -> dict:
        return {
            "source": dataclasses.asdict(self.source),
            "models": self.models,
            "pushes": self.pushes,
            "runs": self.runs,
            **self.lineage.to_dict(),
        }


def impact(store: metadata_store.MetadataStore, artifact_id: int | str) -> Impact:
    """Walks downstream from one artifact: which models and pushes used it, in which runs."""
    source = find_artifact(store, str(artifact_id))
    lineage = Walker(store).downstream([source.id])
    pushes = []
    for artifact in lineage.of_type("PushedModel"):
        if artifact.properties.get("pushed"):
            producer = lineage.producer(artifact.id)
            pushes.append(
                {
                    "version": artifact.properties.get("serving_version"),
                    "artifact": artifact.id,
                    "run": producer.run if producer else "",
                }
            )
    runs = sorted({e.run for e in lineage.executions.values() if e.run})
    return Impact(
        source=lineage.artifacts[source.id],
        lineage=lineage,
        models=[a.id for a in lineage.of_type("Model") if a.id != source.id],
        pushes=pushes,
        runs=runs,
    )


# -- diff --------------------------------------------------------------------------------------


@dataclasses.dataclass
class RunFacts:
    """What one run used and made, in comparable terms."""

    run: str
    examples: list[dict]  # artifact, span, version, input_fingerprint (the training data)
    schema: dict  # artifact, digest
    hyperparameters: dict
    model: int | None
    metrics: dict
    components: dict[str, str]
    pushed_version: int | None


@dataclasses.dataclass
class Change:
    what: str
    a: object
    b: object


@dataclasses.dataclass
class Diff:
    a: RunFacts
    b: RunFacts
    changes: list[Change]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def run_graph(store: metadata_store.MetadataStore, run: str) -> Lineage:
    """Every execution of one run with its inputs and outputs."""
    context = find_run(store, run)
    tasks = [e.id for e in store.get_executions_by_context(context.id) if layout.is_task(e)]
    return Walker(store).of_executions(tasks)


def run_facts(
    store: metadata_store.MetadataStore, run: str, *, with_metrics: bool = True
) -> RunFacts:
    context = find_run(store, run)
    lineage = run_graph(store, context.name)
    newest = {}
    for execution in lineage.executions.values():  # sorted by id: the newest wins
        newest[execution.component] = execution
    transformers = {
        e.execution
        for e in lineage.edges
        if e.direction == "out" and lineage.artifacts[e.artifact].type == "TransformGraph"
    }
    examples = _consumed(lineage, "Examples", transformers) or _made(lineage, "Examples")
    examples = [a for a in examples if "span" in a.properties]
    schema = (_consumed(lineage, "Schema", transformers) or _made(lineage, "Schema"))[:1]
    hyperparameters = _consumed(lineage, "HyperParameters") or _made(lineage, "HyperParameters")
    models = _made(lineage, "Model")
    evaluations = _made(lineage, "ModelEvaluation")
    pushed = [a for a in _made(lineage, "PushedModel") if a.properties.get("pushed")]
    metrics = {}
    if evaluations and with_metrics:
        metrics, _ = read_metrics(evaluations[-1].uri)
    return RunFacts(
        run=context.name,
        examples=[
            {
                "artifact": a.id,
                "span": a.properties.get("span"),
                "version": a.properties.get("version"),
                "input_fingerprint": a.properties.get("input_fingerprint"),
            }
            for a in sorted(examples, key=lambda a: (a.properties.get("span", 0), a.id))
        ],
        schema={"artifact": schema[0].id, "digest": schema_digest(schema[0].uri)} if schema else {},
        hyperparameters=read_hyperparameters(hyperparameters[-1].uri) if hyperparameters else {},
        model=models[-1].id if models else None,
        metrics=metrics,
        components={name: e.state for name, e in sorted(newest.items())},
        pushed_version=pushed[-1].properties.get("serving_version") if pushed else None,
    )


def _consumed(lineage: Lineage, type_name: str, by: set[int] | None = None) -> list[ArtifactNode]:
    ids = {
        e.artifact
        for e in lineage.edges
        if e.direction == "in"
        and (by is None or e.execution in by)
        and lineage.artifacts[e.artifact].type == type_name
    }
    return [lineage.artifacts[i] for i in sorted(ids)]


def _made(lineage: Lineage, type_name: str) -> list[ArtifactNode]:
    ids = {
        e.artifact
        for e in lineage.edges
        if e.direction == "out" and lineage.artifacts[e.artifact].type == type_name
    }
    return [lineage.artifacts[i] for i in sorted(ids)]


def diff(
    store: metadata_store.MetadataStore, run_a: str, run_b: str, *, with_metrics: bool = True
) -> Diff:
    """What differed between two runs: training data (spans, fingerprints), schema,
    hyperparameters, model, metrics, push, and each component's state (ran or cached)."""
    a = run_facts(store, run_a, with_metrics=with_metrics)
    b = run_facts(store, run_b, with_metrics=with_metrics)
    return Diff(a, b, changes(a, b))


def changes(a: RunFacts, b: RunFacts) -> list[Change]:
    found = []

    def compare(what: str, left, right) -> None:
        if left != right:
            found.append(Change(what, left, right))

    compare("spans", [e["span"] for e in a.examples], [e["span"] for e in b.examples])
    left, right = _fingerprints(a), _fingerprints(b)
    for span in sorted(left.keys() & right.keys()):
        compare(f"examples[span {span}]", left[span], right[span])
    compare("schema", a.schema, b.schema)
    for key in sorted(a.hyperparameters.keys() | b.hyperparameters.keys()):
        compare(f"hyperparameters.{key}", a.hyperparameters.get(key), b.hyperparameters.get(key))
    compare("model", a.model, b.model)
    for slice_name in sorted(a.metrics.keys() | b.metrics.keys()):
        left, right = a.metrics.get(slice_name, {}), b.metrics.get(slice_name, {})
        for metric in sorted(left.keys() | right.keys()):
            compare(f"metrics[{slice_name}].{metric}", left.get(metric), right.get(metric))
    compare("pushed_version", a.pushed_version, b.pushed_version)
    for component in sorted(a.components.keys() | b.components.keys()):
        compare(
            f"components.{component}",
            a.components.get(component, "absent"),
            b.components.get(component, "absent"),
        )
    return found


def _fingerprints(facts: RunFacts) -> dict:
    return {
        f"span {e['span']}": e["input_fingerprint"] or f"artifact {e['artifact']}"
        for e in facts.examples
    }
