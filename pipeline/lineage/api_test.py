"""The lineage API on hand-written stores of this pipeline's graph (synthetic.demo_store):
run-1 pushes v1 from span 1, run-2 pushes v2 from spans 1-2, run-3 pushes nothing."""

import pytest

from pipeline.lineage import api
from pipeline.lineage.store import open_store
from pipeline.lineage.synthetic import demo_store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return open_store(demo_store(tmp_path_factory.mktemp("lineage")))


def _examples_of_span(trace, span):
    return next(a for a in trace.lineage.of_type("Examples") if a.properties.get("span") == span)


def test_runs_list_states_pushes_and_cached_components(store):
    found = api.runs(store)
    assert [r.name for r in found] == ["run-1", "run-2", "run-3"]
    assert [r.pushed_version for r in found] == [1, 2, None]
    assert all(r.state == "complete" and r.pipeline == "penguins" for r in found)
    assert found[0].cached == []
    assert {"CsvExampleGen", "Transform", "Trainer"} <= set(found[2].cached)
    assert {"Evaluator", "InfraValidator"} <= set(found[2].ran)
    assert [r.name for r in api.runs(store, limit=1)] == ["run-3"]


def test_trace_latest_is_the_latest_pushed_model_back_to_its_data(store):
    trace = api.trace(store, "latest", with_metrics=False)
    assert trace.target.type == "PushedModel" and trace.version == 2
    assert trace.made_by.component == "Pusher" and trace.made_by.run == "run-2"
    chain = {
        (producer, type_name, key, consumer) for producer, type_name, key, consumer in trace.shape()
    }
    assert {
        ("Trainer", "Model", "model", "Pusher"),
        ("Transform", "Examples", "examples", "Trainer"),
        ("Transform", "TransformGraph", "transform_graph", "Trainer"),
        ("Tuner", "HyperParameters", "hyperparameters", "Trainer"),
        ("CsvExampleGen", "Examples", "examples", "Transform"),
        ("ImportSchemaGen", "Schema", "schema", "Transform"),
        ("CsvExampleGen", "Examples", "examples", "StatisticsGen"),
        ("StatisticsGen", "ExampleStatistics", "statistics", "ExampleValidator"),
        ("ExampleValidator", "ExampleAnomalies", "anomalies", ""),
        ("DriftValidator", "penguins.DriftReport", "report", ""),
        ("Evaluator", "ModelBlessing", "model_blessing", "Pusher"),
        ("Evaluator", "ModelEvaluation", "evaluation", ""),
        ("InfraValidator", "InfraBlessing", "infra_blessing", "Pusher"),
    } <= chain


def test_trace_names_spans_fingerprints_and_the_run_that_made_each(store):
    trace = api.trace(store, "latest", with_metrics=False)
    span_1, span_2 = _examples_of_span(trace, 1), _examples_of_span(trace, 2)
    assert span_1.properties["input_fingerprint"].startswith("split:all")
    # span 1 was ingested by run-1 and reused (cached) by run-2: run-1 made it.
    assert trace.lineage.producer(span_1.id).run == "run-1"
    assert trace.lineage.producer(span_2.id).run == "run-2"
    assert trace.blessings["model"]["blessed"] and trace.blessings["infra"]["blessed"]
    assert trace.hyperparameters["learning_rate"] == 0.003
    assert trace.metrics == {} and trace.metrics_note == "not read"


def test_trace_shows_the_drift_baseline_without_following_it(store):
    trace = api.trace(store, "latest", with_metrics=False)
    baseline = [e for e in trace.lineage.edges if e.key == "baseline_statistics"]
    assert len(baseline) == 1  # span 2's drift check compared with span 1's statistics
    assert trace.lineage.producer(baseline[0].artifact).component == "StatisticsGen"


def test_trace_does_not_follow_the_baseline_into_earlier_runs(store):
    trace = api.trace(store, "latest", with_metrics=False)
    models = trace.lineage.of_type("Model")
    assert len(models) == 2  # the model, and run-1's model as the Evaluator's baseline
    baseline = next(m for m in models if trace.lineage.producer(m.id) is None)
    assert {e.key for e in trace.lineage.edges if e.artifact == baseline.id} == {"baseline_model"}
    assert {e.run for e in trace.lineage.executions.values()} == {"run-1", "run-2"}


def test_trace_by_version_and_by_artifact_id(store):
    first = api.trace(store, "v1", with_metrics=False)
    assert first.version == 1 and first.made_by.run == "run-1"
    assert api.trace(store, "version:1", with_metrics=False).target == first.target
    model = next(
        e.artifact for e in first.lineage.edges if e.key == "model" and e.direction == "in"
    )
    by_id = api.trace(store, str(model), with_metrics=False)
    assert by_id.target.type == "Model" and by_id.made_by.component == "Trainer"
    assert by_id.blessings == {}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("v9", "no pushed serving version 9"),
        ("99999", "no artifact with id 99999"),
        ("newest", "unknown target 'newest'"),
        ("version:x", "expected version:N"),
    ],
)
def test_unknown_targets_are_one_line(store, target, message):
    with pytest.raises(api.LineageError, match=message):
        api.trace(store, target)


def test_impact_of_span_1_reaches_both_pushes_and_every_run(store):
    span_1 = _examples_of_span(api.trace(store, "latest", with_metrics=False), 1)
    found = api.impact(store, span_1.id)
    assert [p["version"] for p in found.pushes] == [1, 2]
    assert len(found.models) == 2
    assert found.runs == ["run-1", "run-2", "run-3"]


def test_impact_of_span_2_spares_the_model_trained_before_it(store):
    trace = api.trace(store, "latest", with_metrics=False)
    found = api.impact(store, _examples_of_span(trace, 2).id)
    assert [p["version"] for p in found.pushes] == [2]
    assert found.runs == ["run-2", "run-3"]


def test_diff_names_spans_hyperparameters_model_and_cached_components(store):
    found = api.diff(store, "run-1", "run-2", with_metrics=False)
    changes = {c.what: (c.a, c.b) for c in found.changes}
    assert changes["spans"] == ([1], [1, 2])
    assert changes["hyperparameters.learning_rate"] == (0.01, 0.003)
    assert changes["pushed_version"] == (1, 2)
    assert changes["components.ImportSchemaGen"] == ("ran", "cached")
    assert "schema" not in changes  # the same curated schema artifact
    assert found.a.schema["digest"] and found.a.schema == found.b.schema


def test_diff_of_a_cached_rerun_shows_the_same_model(store):
    found = api.diff(store, "latest~1", "latest", with_metrics=False)
    changes = {c.what for c in found.changes}
    assert found.a.run == "run-2" and found.b.run == "run-3"
    assert "model" not in changes and "spans" not in changes
    assert {"components.Transform", "components.Trainer", "pushed_version"} <= changes


@pytest.mark.parametrize(
    ("ref", "message"),
    [("run-", "names 3 runs"), ("nope", "no run named 'nope'"), ("latest~7", "only 3 runs")],
)
def test_bad_run_names_are_one_line(store, ref, message):
    with pytest.raises(api.LineageError, match=message):
        api.find_run(store, ref)


def test_run_graph_holds_every_task_of_the_run(store):
    graph = api.run_graph(store, "run-3")
    components = {e.component for e in graph.executions.values()}
    assert {"CsvExampleGen", "Transform", "Trainer", "Evaluator", "InfraValidator"} <= components
    assert "Pusher" not in components  # not blessed, not pushed


def test_kubeflow_layout_gives_the_same_chain(tmp_path, store):
    """KFP v2's launcher cannot run here: this store imitates what it writes (system.*
    contexts and executions, tfx.* and system.* artifact types, numbers as doubles)."""
    kfp = open_store(demo_store(tmp_path, kfp=True))
    assert {c.type for c in kfp.get_contexts()} == {"system.Pipeline", "system.PipelineRun"}
    local = api.trace(store, "latest", with_metrics=False)
    remote = api.trace(kfp, "latest", with_metrics=False)
    assert remote.shape() == local.shape()
    assert remote.version == 2 and remote.made_by.run == "run-2"
    assert remote.target.uri.startswith("minio://")
    assert [r.pushed_version for r in api.runs(kfp)] == [1, 2, None]
    assert [p["version"] for p in api.impact(kfp, _examples_of_span(remote, 1).id).pushes] == [1, 2]


def test_metrics_that_cannot_be_read_say_why(store):
    trace = api.trace(store, "latest")
    assert trace.metrics == {}
    assert trace.metrics_note.startswith(("cannot read the evaluation at", "no metrics found"))
