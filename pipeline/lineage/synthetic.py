"""Lineage written by hand with the MLMD API, for tests and the benchmark, in either
layout:

- `tfx`: as TFX's local runner records it (pipeline / pipeline_run / node contexts,
  TFX type names, integer properties);
- `kfp`: as Kubeflow Pipelines v2's driver and launcher record it. No KFP cluster runs
  here, so this imitates what they write (kubeflow/pipelines backend/src/v2/metadata):
  `system.Pipeline` and `system.PipelineRun` contexts, one `system.DAGExecution` per
  run, tasks as `system.ContainerExecution` named by the `task_name` custom property,
  artifact types named by the output's schema title (`tfx.Examples`) or a KFP
  `system.*` type, every property a custom property with numbers as doubles, and
  remote `minio://` URIs.

`penguin_run` writes one run of this project's pipeline graph (same components, keys and
artifact types as pipeline/pipeline.py); `Recorder` writes any execution.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ml_metadata import errors as mlmd_errors
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline.lineage import layout

_STATES = {
    "ran": metadata_store_pb2.Execution.COMPLETE,
    "cached": metadata_store_pb2.Execution.CACHED,
    "failed": metadata_store_pb2.Execution.FAILED,
}
# Types KFP gives some TFX artifacts instead of their schema title (see layout).
KFP_SYSTEM_TYPES = {"Model": "system.Model", "PushedModel": "system.Artifact"}


@dataclasses.dataclass(frozen=True)
class New:
    """An artifact to create as an execution's output."""

    type: str  # TFX type name
    properties: dict = dataclasses.field(default_factory=dict)
    uri: str = ""


class Recorder:
    """Writes executions, their artifacts and events, and run contexts, in one layout."""

    def __init__(
        self, store: metadata_store.MetadataStore, kfp: bool = False, pipeline: str = "penguins"
    ):
        self.store, self.kfp, self.pipeline = store, kfp, pipeline
        self._types: dict[tuple[str, str], int] = {}
        self._contexts: dict[tuple[str, str], metadata_store_pb2.Context] = {}
        self.run = ""

    def start_run(self, name: str) -> None:
        """Later executions belong to run `name` (KFP: also its root DAG execution)."""
        self.run = name
        pipeline = self._context(layout.PIPELINE_CONTEXT_TYPES[self.kfp], self.pipeline)
        run = self._context(layout.RUN_CONTEXT_TYPES[self.kfp], name)
        self.store.put_parent_contexts(
            [metadata_store_pb2.ParentContext(child_id=run.id, parent_id=pipeline.id)]
        )
        if self.kfp:
            dag = metadata_store_pb2.Execution(
                type_id=self._type("execution", layout.KFP_DAG_EXECUTION),
                last_known_state=metadata_store_pb2.Execution.COMPLETE,
            )
            self.store.put_execution(dag, [], [pipeline, run])

    def record(
        self,
        component: str,
        inputs: dict[str, list[int]] | None = None,
        outputs: dict[str, list[New | int]] | None = None,
        state: str = "ran",
    ) -> dict[str, list[int]]:
        """One execution of `component` in the current run; outputs are new artifacts or
        ids of existing ones (a cached execution outputs what an earlier one made).
        Returns the output artifact ids by key."""
        execution = metadata_store_pb2.Execution(
            type_id=self._type("execution", self._execution_type(component)),
            last_known_state=_STATES[state],
        )
        if self.kfp:
            for key, text in (
                ("task_name", component),
                ("display_name", component),
                ("image", "penguins:latest"),
            ):
                execution.custom_properties[key].string_value = text
        pairs, keys = [], []
        # One event per input artifact: one used under two keys (an Evaluator's model that
        # is also its baseline) gets both keys in its path, as TFX records it.
        by_artifact: dict[int, metadata_store_pb2.Event] = {}
        for key, ids in (inputs or {}).items():
            for index, artifact in enumerate(self.store.get_artifacts_by_id(ids)):
                if artifact.id in by_artifact:
                    _add_step(by_artifact[artifact.id], key, index)
                    continue
                by_artifact[artifact.id] = _event(metadata_store_pb2.Event.INPUT, key, index)
                pairs.append((artifact, by_artifact[artifact.id]))
        for key, items in (outputs or {}).items():
            for index, item in enumerate(items):
                artifact = (
                    self._artifact(item)
                    if isinstance(item, New)
                    else self.store.get_artifacts_by_id([item])[0]
                )
                pairs.append((artifact, _event(metadata_store_pb2.Event.OUTPUT, key, index)))
                keys.append(key)
        contexts = [
            self._context(layout.PIPELINE_CONTEXT_TYPES[self.kfp], self.pipeline),
            self._context(layout.RUN_CONTEXT_TYPES[self.kfp], self.run),
        ]
        if not self.kfp:
            contexts.append(self._context(layout.NODE_CONTEXT_TYPE, f"{self.pipeline}.{component}"))
        _, artifact_ids, _ = self.store.put_execution(execution, pairs, contexts)
        made: dict[str, list[int]] = {}
        for key, artifact_id in zip(keys, artifact_ids[len(pairs) - len(keys) :], strict=True):
            made.setdefault(key, []).append(artifact_id)
        return made

    def _execution_type(self, component: str) -> str:
        return "system.ContainerExecution" if self.kfp else f"tfx.components.{component}"

    def _artifact(self, new: New) -> metadata_store_pb2.Artifact:
        type_name = new.type
        if self.kfp and "." not in type_name:  # a custom `namespace.Name` title stays as it is
            type_name = KFP_SYSTEM_TYPES.get(new.type, f"tfx.{new.type}")
        artifact = metadata_store_pb2.Artifact(
            type_id=self._type("artifact", type_name),
            uri=new.uri,
            state=metadata_store_pb2.Artifact.LIVE,
        )
        for key, value in new.properties.items():
            _set(artifact.custom_properties[key], value, self.kfp)
        return artifact

    def _type(self, kind: str, name: str) -> int:
        """The id of a type, reusing one the store has (with whatever properties TFX
        declared for it) before creating a new one."""
        if (kind, name) not in self._types:
            get, put, proto = {
                "execution": (
                    self.store.get_execution_type,
                    self.store.put_execution_type,
                    metadata_store_pb2.ExecutionType,
                ),
                "artifact": (
                    self.store.get_artifact_type,
                    self.store.put_artifact_type,
                    metadata_store_pb2.ArtifactType,
                ),
                "context": (
                    self.store.get_context_type,
                    self.store.put_context_type,
                    metadata_store_pb2.ContextType,
                ),
            }[kind]
            try:
                self._types[(kind, name)] = get(name).id
            except mlmd_errors.NotFoundError:
                self._types[(kind, name)] = put(proto(name=name))
        return self._types[(kind, name)]

    def _context(self, type_name: str, name: str) -> metadata_store_pb2.Context:
        key = (type_name, name)
        if key not in self._contexts:
            type_id = self._type("context", type_name)
            found = self.store.get_context_by_type_and_name(type_name, name)
            if found is None:
                context = metadata_store_pb2.Context(type_id=type_id, name=name)
                [context.id] = self.store.put_contexts([context])
                found = context
            self._contexts[key] = found
        return self._contexts[key]


def _event(kind, key: str, index: int) -> metadata_store_pb2.Event:
    event = metadata_store_pb2.Event(type=kind)
    _add_step(event, key, index)
    return event


def _add_step(event: metadata_store_pb2.Event, key: str, index: int) -> None:
    event.path.steps.add().key = key
    event.path.steps.add().index = index


def _set(target: metadata_store_pb2.Value, value, kfp: bool) -> None:
    """TFX stores ints as ints; KFP's launcher turns every number into a double."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int) and not kfp:
        target.int_value = value
    elif isinstance(value, (int, float)):
        target.double_value = float(value)
    elif isinstance(value, dict):
        target.struct_value.update(value)
    else:
        target.string_value = str(value)


# -- this project's pipeline ----------------------------------------------------------------------

DEFAULT_HYPERPARAMETERS = {"hidden_units": 16, "hidden_layers": 1, "learning_rate": 0.01}
SCHEMA_TEXT = 'feature { name: "island" type: BYTES }\n'


@dataclasses.dataclass
class RunRecord:
    """What one synthetic run made, by component and output key (ids)."""

    name: str
    outputs: dict[str, dict[str, list[int]]] = dataclasses.field(default_factory=dict)

    def get(self, component: str, key: str) -> list[int]:
        return self.outputs.get(component, {}).get(key, [])


class PenguinRuns:
    """Writes runs of the penguin pipeline. Files a lineage reads (hyperparameters,
    schema) are written under `root` in the TFX layout; KFP's URIs are remote."""

    def __init__(self, store: metadata_store.MetadataStore, root: Path, kfp: bool = False):
        self.recorder = Recorder(store, kfp=kfp)
        self.root, self.kfp = Path(root), kfp
        self.runs: list[RunRecord] = []
        self._count = 0

    def _uri(self, component: str, key: str, content: tuple[str, str] | None = None) -> str:
        self._count += 1
        if self.kfp:
            return (
                f"minio://mlpipeline/penguins/{self.recorder.run}/{component}/{key}/{self._count}"
            )
        folder = self.root / component / key / str(self._count)
        folder.mkdir(parents=True, exist_ok=True)
        if content:
            (folder / content[0]).write_text(content[1])
        return str(folder)

    def run(
        self,
        name: str,
        spans: tuple[int, ...] = (3,),
        *,
        cached: tuple[str, ...] = (),
        hyperparameters: dict | None = None,
        blessed: bool = True,
    ) -> RunRecord:
        """One run on `spans`. Components named in `cached` reuse the previous run's
        outputs (and its ingestion of a span), as TFX's cache does."""
        previous = self.runs[-1] if self.runs else RunRecord("")
        record = RunRecord(name)
        self.recorder.start_run(name)
        examples = [self._ingest(record, previous, span, cached) for span in spans]
        schema = record.outputs.setdefault("ImportSchemaGen", {}).get("schema", [])
        transform = self._step(
            record,
            previous,
            cached,
            "Transform",
            {
                "examples": examples,
                "schema": schema,
                "analyzer_cache": previous.get("Transform", "updated_analyzer_cache"),
            },
            {
                "transformed_examples": [
                    New(
                        "Examples",
                        {"split_names": '["train", "eval"]'},
                        self._uri("Transform", "transformed_examples"),
                    )
                ],
                "transform_graph": [
                    New("TransformGraph", uri=self._uri("Transform", "transform_graph"))
                ],
                "updated_analyzer_cache": [
                    New("TransformCache", uri=self._uri("Transform", "updated_analyzer_cache"))
                ],
            },
        )
        values = {"values": hyperparameters or DEFAULT_HYPERPARAMETERS}
        tuner = self._step(
            record,
            previous,
            cached,
            "Tuner",
            {
                "examples": transform["transformed_examples"],
                "transform_graph": transform["transform_graph"],
            },
            {
                "best_hyperparameters": [
                    New(
                        "HyperParameters",
                        uri=self._uri(
                            "Tuner",
                            "best_hyperparameters",
                            ("best_hyperparameters.txt", json.dumps(values)),
                        ),
                    )
                ]
            },
        )
        model = self._step(
            record,
            previous,
            cached,
            "Trainer",
            {
                "examples": transform["transformed_examples"],
                "transform_graph": transform["transform_graph"],
                "schema": schema,
                "hyperparameters": tuner["best_hyperparameters"],
            },
            {"model": [New("Model", uri=self._uri("Trainer", "model"))]},
        )["model"]
        baseline = self._latest_blessed_model()
        evaluator = self._step(
            record,
            previous,
            (),
            "Evaluator",
            {"examples": examples, "model": model, "baseline_model": baseline},
            {
                "evaluation": [New("ModelEvaluation", uri=self._uri("Evaluator", "evaluation"))],
                "blessing": [
                    New(
                        "ModelBlessing",
                        {"blessed": int(blessed), "current_model_id": model[0]},
                        self._uri("Evaluator", "blessing"),
                    )
                ],
            },
        )
        infra = self._step(
            record,
            previous,
            cached,
            "InfraValidator",
            {"model": model, "examples": examples[-1:]},
            {
                "blessing": [
                    New(
                        "InfraBlessing",
                        {
                            "blessed": 1,
                            "load_seconds": 1.5,
                            "reason": "model loaded and answered correctly",
                        },
                        self._uri("InfraValidator", "blessing"),
                    )
                ]
            },
        )
        if blessed:
            self._push(record, model, evaluator["blessing"], infra["blessing"])
        self.runs.append(record)
        return record

    def _ingest(self, record: RunRecord, previous: RunRecord, span: int, cached) -> int:
        """CsvExampleGen, ImportSchemaGen, StatisticsGen, ExampleValidator and DataGate for
        one span; returns the examples' id."""
        tag = f"@{span}"
        examples = self._step(
            record,
            previous,
            cached,
            "CsvExampleGen",
            {},
            {
                "examples": [
                    New(
                        "Examples",
                        {
                            "span": span,
                            "input_fingerprint": f"split:all,num_files:1,total_bytes:{5000 + span}",
                            "split_names": '["train", "eval"]',
                        },
                        self._uri("CsvExampleGen", "examples"),
                    )
                ]
            },
            tag=tag,
        )["examples"]
        if "schema" not in record.outputs.get("ImportSchemaGen", {}):
            self._step(
                record,
                previous,
                cached,
                "ImportSchemaGen",
                {},
                {
                    "schema": [
                        New(
                            "Schema",
                            uri=self._uri(
                                "ImportSchemaGen", "schema", ("schema.pbtxt", SCHEMA_TEXT)
                            ),
                        )
                    ]
                },
            )
        schema = record.get("ImportSchemaGen", "schema")
        statistics = self._step(
            record,
            previous,
            cached,
            "StatisticsGen",
            {"examples": examples},
            {
                "statistics": [
                    New(
                        "ExampleStatistics",
                        {"split_names": '["train", "eval"]'},
                        self._uri("StatisticsGen", "statistics"),
                    )
                ]
            },
            tag=tag,
        )["statistics"]
        anomalies = self._step(
            record,
            previous,
            cached,
            "ExampleValidator",
            {"statistics": statistics, "schema": schema},
            {
                "anomalies": [
                    New(
                        "ExampleAnomalies",
                        {"blessed": {"train": 1, "eval": 1}},
                        self._uri("ExampleValidator", "anomalies"),
                    )
                ]
            },
            tag=tag,
        )["anomalies"]
        baseline = self._drift_baseline(record, span)
        report = self._step(
            record,
            previous,
            cached,
            "DriftValidator",
            {"statistics": statistics, "schema": schema, "baseline_statistics": baseline},
            {
                "report": [
                    New(
                        "penguins.DriftReport",
                        {"drifted": 0, "blocking": 0, "has_baseline": int(bool(baseline))},
                        self._uri("DriftValidator", "report"),
                    )
                ]
            },
            tag=tag,
        )["report"]
        self._step(
            record,
            previous,
            cached,
            "DataGate",
            {"examples": examples, "anomalies": anomalies, "drift_report": report},
            {"checked_splits": [New("Integer", uri=self._uri("DataGate", "checked_splits"))]},
            tag=tag,
        )
        return examples[0]

    def _step(
        self, record, previous, cached, component, inputs, outputs, tag: str = ""
    ) -> dict[str, list[int]]:
        """Records a component: cached (reusing the previous run's outputs) when asked
        and possible, else ran (new artifacts)."""
        reused = previous.outputs.get(component + tag)
        inputs = {k: v for k, v in inputs.items() if v}
        if component in cached and reused:
            made = self.recorder.record(component, inputs, reused, state="cached")
        else:
            made = self.recorder.record(component, inputs, outputs)
        record.outputs[component + tag] = made
        record.outputs.setdefault(component, {}).update(made)
        return made

    def _drift_baseline(self, record: RunRecord, span: int) -> list[int]:
        """The statistics of the span before this one, when it was ingested."""
        for run in (record, *reversed(self.runs)):
            found = run.get(f"StatisticsGen@{span - 1}", "statistics")
            if found:
                return found
        return []

    def _latest_blessed_model(self) -> list[int]:
        for run in reversed(self.runs):
            if run.get("Pusher", "pushed_model"):
                return run.get("Trainer", "model")
        return []

    def _push(self, record: RunRecord, model, model_blessing, infra_blessing) -> None:
        version = 1 + sum(bool(r.get("Pusher", "pushed_model")) for r in self.runs)
        self._step(
            record,
            RunRecord(""),
            (),
            "Pusher",
            {"model": model, "model_blessing": model_blessing, "infra_blessing": infra_blessing},
            {
                "pushed_model": [
                    New(
                        "PushedModel",
                        {
                            "pushed": 1,
                            "serving_version": version,
                            "pushed_destination": f"/serving/penguins/{version}",
                            "serving_path": f"/serving/penguins/{version}",
                        },
                        self._uri("Pusher", "pushed_model"),
                    )
                ]
            },
        )


UPSTREAM = (
    "CsvExampleGen",
    "ImportSchemaGen",
    "StatisticsGen",
    "ExampleValidator",
    "DriftValidator",
    "DataGate",
)


def demo_store(folder: Path, kfp: bool = False) -> Path:
    """A SQLite store (and its files) with three runs, for tests and trying commands:
    run-1 on span 1 pushes v1; run-2 on spans 1-2 (span 1's ingestion cached, other
    hyperparameters) pushes v2; run-3 re-runs run-2 with everything cached up to the
    Trainer and an evaluation that does not bless, so nothing is pushed."""
    folder = Path(folder)
    path = folder / ("kfp-metadata.db" if kfp else "metadata.db")
    from pipeline.lineage.store import open_store

    runs = PenguinRuns(open_store(path, writable=True), folder / "pipeline", kfp=kfp)
    runs.run("run-1", spans=(1,))
    runs.run(
        "run-2",
        spans=(1, 2),
        cached=UPSTREAM,
        hyperparameters={**DEFAULT_HYPERPARAMETERS, "learning_rate": 0.003},
    )
    runs.run(
        "run-3", spans=(1, 2), cached=(*UPSTREAM, "Transform", "Tuner", "Trainer"), blessed=False
    )
    return path
