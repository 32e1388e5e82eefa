"""The lineage graph: artifacts, the executions that made and used them, and the events
between, read from ML Metadata a level at a time.

Every step of a walk asks MLMD for the events of a whole frontier at once (by artifact
ids, then by execution ids) and fetches artifacts and executions by id, so the cost of a
walk grows with the size of the answer, not with the size of the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline.lineage import layout

# Inputs that point back at earlier runs rather than at what a model was made from: the
# baseline an Evaluator compares against, the analyzer cache Transform reuses, and the
# statistics a drift check compares against. A walk shows them but does not follow them
# (they would chain every earlier run in).
NOT_FOLLOWED = frozenset({"baseline_model", "analyzer_cache", "baseline_statistics"})
# Outputs shown beside the one a walk came through: an Evaluator's evaluation, next to the
# blessing that it justifies.
SIBLINGS = frozenset({"evaluation"})
USERS_PAGE = 32  # executions read at a time when looking for the checks made from an artifact
# The checks a trace shows under the data they checked: output key -> the input key of
# what it checks (StatisticsGen reads examples; ExampleValidator and DriftValidator read
# statistics).
CHECKS = {"statistics": "examples", "anomalies": "statistics", "report": "statistics"}


@dataclasses.dataclass(frozen=True)
class ArtifactNode:
    id: int
    type: str  # the TFX type name: Examples, Model, PushedModel...
    uri: str
    properties: dict
    created_ms: int

    @property
    def label(self) -> str:
        return f"{self.type} #{self.id}"


@dataclasses.dataclass(frozen=True)
class ExecutionNode:
    id: int
    component: str  # the component id in the pipeline: Trainer, Pusher...
    run: str  # the run's name (TFX: its run id, KFP: the run's UUID)
    state: str  # ran | cached | failed | skipped | running
    started_ms: int
    ended_ms: int

    @property
    def label(self) -> str:
        return f"{self.component} (execution {self.id})"


@dataclasses.dataclass(frozen=True)
class Edge:
    """One event: an artifact going `in` to an execution, or coming `out` of one."""

    artifact: int
    execution: int
    direction: str  # in | out
    key: str


@dataclasses.dataclass
class Lineage:
    artifacts: dict[int, ArtifactNode] = dataclasses.field(default_factory=dict)
    executions: dict[int, ExecutionNode] = dataclasses.field(default_factory=dict)
    edges: list[Edge] = dataclasses.field(default_factory=list)

    def producer(self, artifact_id: int) -> ExecutionNode | None:
        """The execution that first made the artifact (later, cached ones reuse it)."""
        made_by = [
            e.execution for e in self.edges if e.artifact == artifact_id and e.direction == "out"
        ]
        return self.executions[min(made_by)] if made_by else None

    def inputs(self, execution_id: int) -> list[Edge]:
        return [e for e in self.edges if e.execution == execution_id and e.direction == "in"]

    def outputs(self, execution_id: int) -> list[Edge]:
        return [e for e in self.edges if e.execution == execution_id and e.direction == "out"]

    def of_type(self, type_name: str) -> list[ArtifactNode]:
        return [a for a in self.artifacts.values() if a.type == type_name]

    def to_dict(self) -> dict:
        return {
            "artifacts": [dataclasses.asdict(a) for a in self.artifacts.values()],
            "executions": [dataclasses.asdict(e) for e in self.executions.values()],
            "edges": [dataclasses.asdict(e) for e in self.edges],
        }


class Walker:
    """Reads lineage from one store, remembering what it fetched."""

    def __init__(self, store: metadata_store.MetadataStore):
        self.store = store
        self._events_by_execution: dict[int, list[metadata_store_pb2.Event]] = {}
        self._executions: dict[int, ExecutionNode] = {}

    # -- MLMD reads, in batches -------------------------------------------------------

    def events_of_executions(self, ids: Iterable[int]) -> list[metadata_store_pb2.Event]:
        ids = set(ids)
        missing = sorted(ids - self._events_by_execution.keys())
        if missing:
            for execution_id in missing:
                self._events_by_execution[execution_id] = []
            for event in self.store.get_events_by_execution_ids(missing):
                self._events_by_execution[event.execution_id].append(event)
        return [e for i in ids for e in self._events_by_execution[i]]

    def events_of_artifacts(self, ids: Iterable[int]) -> list[metadata_store_pb2.Event]:
        ids = sorted(set(ids))
        return list(self.store.get_events_by_artifact_ids(ids)) if ids else []

    def executions(self, ids: Iterable[int]) -> dict[int, ExecutionNode]:
        """Execution nodes by id, each with its component and run (one MLMD call per new
        execution for its contexts: lineage answers are small)."""
        ids = set(ids)
        missing = sorted(ids - self._executions.keys())
        for execution in self.store.get_executions_by_id(missing) if missing else []:
            contexts = self.store.get_contexts_by_execution(execution.id)
            run = layout.run_context(contexts)
            self._executions[execution.id] = ExecutionNode(
                id=execution.id,
                component=layout.component(execution, contexts),
                run=run.name if run else "",
                state=layout.state(execution),
                started_ms=execution.create_time_since_epoch,
                ended_ms=execution.last_update_time_since_epoch,
            )
        return {i: self._executions[i] for i in ids if i in self._executions}

    def artifacts(self, ids: Iterable[int]) -> dict[int, ArtifactNode]:
        ids = sorted(set(ids))
        found = self.store.get_artifacts_by_id(ids) if ids else []
        return {a.id: artifact_node(a) for a in found}

    # -- walks ----------------------------------------------------------------------------

    def upstream(self, artifact_ids: Iterable[int]) -> Lineage:
        """What the artifacts were made from, back to the pipeline's sources: each
        artifact's first producer, that producer's inputs, and so on."""
        artifact_ids = set(artifact_ids)
        edges: set[Edge] = set()
        frontier, seen = set(artifact_ids), set(artifact_ids)
        while frontier:
            producers = _first_producers(self.events_of_artifacts(frontier))
            frontier = set()
            for event in self.events_of_executions(producers.values()):
                edge = _edge(event)
                if edge.direction == "out" and (
                    producers.get(edge.artifact) == edge.execution or edge.key in SIBLINGS
                ):
                    edges.add(edge)
                elif edge.direction == "in":
                    edges.add(edge)
                    if edge.key not in NOT_FOLLOWED and edge.artifact not in seen:
                        frontier.add(edge.artifact)
                        seen.add(edge.artifact)
        return self.build(edges, extra_artifacts=artifact_ids)

    def downstream(self, artifact_ids: Iterable[int]) -> Lineage:
        """Everything made from the artifacts: their consumers (cached ones too, which
        say which runs used them), those consumers' outputs, and so on."""
        artifact_ids = set(artifact_ids)
        edges: set[Edge] = set()
        frontier, seen_artifacts, seen_executions = set(artifact_ids), set(artifact_ids), set()
        while frontier:
            consumers = set()
            for event in self.events_of_artifacts(frontier):
                edge = _edge(event)
                if edge.direction == "in" and edge.key not in NOT_FOLLOWED:
                    edges.add(edge)
                    consumers.add(edge.execution)
            consumers -= seen_executions
            seen_executions |= consumers
            frontier = set()
            for event in self.events_of_executions(consumers):
                edge = _edge(event)
                if edge.direction == "out":
                    edges.add(edge)
                    if edge.artifact not in seen_artifacts:
                        frontier.add(edge.artifact)
                        seen_artifacts.add(edge.artifact)
        return self.build(edges, extra_artifacts=artifact_ids)

    def checks_of(self, artifact_ids: Iterable[int], output_keys: set[str]) -> set[Edge]:
        """For each artifact and each of `output_keys`, the first execution that used the
        artifact to make an output under that key (the statistics of some examples; the
        anomalies and the drift report of statistics), with that execution's inputs and
        that output.

        Data used by many runs has many users (each cached re-run adds some); they are
        read oldest first, a page at a time: the checks that ran right after the data was
        made are in the first page."""
        users: dict[int, set[int]] = {}
        for edge in map(_edge, self.events_of_artifacts(artifact_ids)):
            if edge.direction == "in":
                users.setdefault(edge.artifact, set()).add(edge.execution)
        firsts = set()
        for executions in users.values():
            ordered, missing = sorted(executions), set(output_keys)
            for start in range(0, len(ordered), USERS_PAGE):
                page = self.events_of_executions(ordered[start : start + USERS_PAGE])
                makers: dict[str, int] = {}
                for edge in map(_edge, page):
                    if edge.direction == "out" and edge.key in missing:
                        makers[edge.key] = min(edge.execution, makers.get(edge.key, edge.execution))
                firsts |= set(makers.values())
                missing -= makers.keys()
                if not missing:
                    break
        return {
            edge
            for edge in map(_edge, self.events_of_executions(firsts))
            if edge.direction == "in" or edge.key in output_keys
        }

    def of_executions(self, execution_ids: Iterable[int]) -> Lineage:
        """The given executions with all their inputs and outputs (a run's graph)."""
        edges = {_edge(e) for e in self.events_of_executions(execution_ids)}
        return self.build({e for e in edges if e.direction != "other"})

    def build(self, edges: Iterable[Edge], extra_artifacts: Iterable[int] = ()) -> Lineage:
        """A Lineage holding the edges and every node they touch, fetched in batches."""
        edges = sorted(set(edges), key=lambda e: (e.execution, e.direction, e.key, e.artifact))
        artifacts = self.artifacts({e.artifact for e in edges} | set(extra_artifacts))
        executions = self.executions({e.execution for e in edges})
        return Lineage(
            artifacts=dict(sorted(artifacts.items())),
            executions=dict(sorted(executions.items())),
            edges=[e for e in edges if e.artifact in artifacts and e.execution in executions],
        )


def merge(*lineages: Lineage) -> Lineage:
    merged = Lineage()
    for lineage in lineages:
        merged.artifacts.update(lineage.artifacts)
        merged.executions.update(lineage.executions)
    edges = {e for lineage in lineages for e in lineage.edges}
    merged.edges = sorted(edges, key=lambda e: (e.execution, e.direction, e.key, e.artifact))
    merged.artifacts = dict(sorted(merged.artifacts.items()))
    merged.executions = dict(sorted(merged.executions.items()))
    return merged


def artifact_node(artifact: metadata_store_pb2.Artifact) -> ArtifactNode:
    return ArtifactNode(
        id=artifact.id,
        type=layout.artifact_type(artifact),
        uri=artifact.uri,
        properties=layout.properties(artifact),
        created_ms=artifact.create_time_since_epoch,
    )


def _edge(event: metadata_store_pb2.Event) -> Edge:
    if event.type in layout.INPUT_EVENTS:
        direction = "in"
    elif event.type in layout.OUTPUT_EVENTS:
        direction = "out"
    else:  # resolvers' internal events, pending outputs of failed executions
        direction = "other"
    keys = layout.event_keys(event)
    # An input used under two keys (an Evaluator's model that is also its baseline) is
    # followed: pick the key that is followed.
    key = next((k for k in keys if k not in NOT_FOLLOWED), keys[0])
    return Edge(event.artifact_id, event.execution_id, direction, key)


def _first_producers(events: Iterable[metadata_store_pb2.Event]) -> dict[int, int]:
    """Artifact id -> the first execution that output it. Cached executions output the
    same artifact again later; the first one is the one that made it."""
    producers: dict[int, int] = {}
    for event in events:
        if event.type in layout.OUTPUT_EVENTS:
            known = producers.get(event.artifact_id)
            if known is None or event.execution_id < known:
                producers[event.artifact_id] = event.execution_id
    return producers
