"""The baseline queries on a real ML Metadata store, in KFP's layout (`tfx.*` type names,
numbers as doubles, a cached task recorded as a second execution of the same outputs)."""

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from components.mlmd_baseline import query


class _Store:
    def __init__(self, tmp_path):
        config = pb.ConnectionConfig()
        config.sqlite.filename_uri = str(tmp_path / "mlmd.sqlite")
        self.store = metadata_store.MetadataStore(config)
        self.execution_type = self.store.put_execution_type(
            pb.ExecutionType(name="system.ContainerExecution")
        )

    def artifact(self, type_name: str, uri: str, **numbers: float) -> int:
        type_id = self.store.put_artifact_type(pb.ArtifactType(name=type_name))
        artifact = pb.Artifact(type_id=type_id, uri=uri)
        for key, value in numbers.items():
            artifact.custom_properties[key].double_value = value
        return self.store.put_artifacts([artifact])[0]

    def execution(self, inputs: dict[str, int], outputs: dict[str, int]) -> None:
        (execution_id,) = self.store.put_executions([pb.Execution(type_id=self.execution_type)])
        events = []
        for kind, artifacts in ((pb.Event.INPUT, inputs), (pb.Event.OUTPUT, outputs)):
            for key, artifact_id in artifacts.items():
                event = pb.Event(artifact_id=artifact_id, execution_id=execution_id, type=kind)
                event.path.steps.add().key = key
                events.append(event)
        self.store.put_events(events)


def test_latest_blessed_model_skips_unblessed_and_the_candidate(tmp_path):
    s = _Store(tmp_path)
    old, rejected, candidate = (
        s.artifact("tfx.Model", f"minio://b/{name}") for name in ("old", "rejected", "new")
    )
    s.execution({"model": old}, {"blessing": s.artifact("tfx.ModelBlessing", "b1", blessed=1)})
    s.execution({"model": rejected}, {"blessing": s.artifact("tfx.ModelBlessing", "b2", blessed=0)})
    candidate_blessing = s.artifact("tfx.ModelBlessing", "b3", blessed=1)
    s.execution({"model": candidate}, {"blessing": candidate_blessing})
    s.execution({"model": candidate}, {"blessing": candidate_blessing})  # served from cache

    found = query.latest_blessed_model(s.store, exclude_uris=["minio://b/new"])
    assert found.uri == "minio://b/old"
    assert query.latest_blessed_model(s.store).uri == "minio://b/new"


def test_no_blessed_model_is_none(tmp_path):
    s = _Store(tmp_path)
    s.execution(
        {"model": s.artifact("tfx.Model", "m")},
        {"blessing": s.artifact("tfx.ModelBlessing", "b", blessed=0)},
    )
    assert query.latest_blessed_model(s.store) is None


def _span(s: _Store, span: int) -> tuple[int, int]:
    examples = s.artifact("tfx.Examples", f"minio://b/examples-{span}", span=span)
    statistics = s.artifact("tfx.ExampleStatistics", f"minio://b/statistics-{span}")
    s.execution({"examples": examples}, {"statistics": statistics})
    return examples, statistics


def test_drift_baseline_is_the_previous_span_before_any_push(tmp_path):
    s = _Store(tmp_path)
    _span(s, 1)
    _span(s, 2)
    _span(s, 3)
    found = query.drift_baseline_statistics(s.store, ["minio://b/examples-3"])
    assert found.uri == "minio://b/statistics-2"
    assert query.drift_baseline_statistics(s.store, ["minio://b/examples-1"]) is None


def test_drift_baseline_is_the_served_models_training_span(tmp_path):
    s = _Store(tmp_path)
    examples_1, _ = _span(s, 1)
    _span(s, 2)
    _span(s, 3)
    # Transform ← span 1, Trainer ← its output, Pusher ← the model: pushed.
    transformed = s.artifact("tfx.Examples", "minio://b/transformed")
    s.execution({"examples": examples_1}, {"transformed_examples": transformed})
    model = s.artifact("tfx.Model", "minio://b/model")
    s.execution({"examples": transformed}, {"model": model})
    s.execution({"model": model}, {"pushed_model": s.artifact("tfx.PushedModel", "p", pushed=1)})

    found = query.drift_baseline_statistics(s.store, ["minio://b/examples-3"])
    assert found.uri == "minio://b/statistics-1"
