"""End to end, in a temp dir, on the bundled data: the real pipeline, the real MLMD.

One module-scoped output folder carries the story a user lives through: a first run
pushes a model, an identical re-run is cached and pushes nothing, and new spans with
anomalies stop before training while the pushed model stays untouched.
"""

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from ml_metadata import metadata_store
from tfx.orchestration import metadata

from components.pusher import pushing
from models import features
from pipeline import mlmd, runner
from pipeline.cli import main
from pipeline.config import DEFAULT_DATA_ROOT, PipelineConfig, SpanSelection, TrainingConfig
from tests.pipeline_components import COMPONENTS

pytestmark = pytest.mark.e2e

# Small budgets: the point here is the plumbing, not the best model.
FAST = TrainingConfig(train_steps=150, tuner_trials=2, tuner_train_steps=30, eval_steps=5)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    shutil.copytree(DEFAULT_DATA_ROOT, data)
    config = PipelineConfig(
        data_root=data, output_dir=root / "outputs", training=FAST, accuracy_threshold=0.8
    )
    return config


@pytest.fixture(scope="module")
def first_run(workspace):
    return runner.run(workspace)


@pytest.fixture(scope="module")
def second_run(workspace, first_run):
    return runner.run(workspace)


def _store(config):
    return metadata_store.MetadataStore(
        metadata.sqlite_metadata_connection_config(str(config.resolved().metadata_path))
    )


def test_first_run_completes_every_component_and_pushes_version_1(workspace, first_run):
    states = {n.node_id: n.state for n in first_run.nodes if n.node_id in COMPONENTS}
    assert states == {c: "ran" for c in COMPONENTS}
    store = _store(workspace)
    run = mlmd.latest_run_context(store, workspace.pipeline_name)
    recorded = mlmd.node_executions(store, run.id)
    assert {k: v.state for k, v in recorded.items() if k in COMPONENTS} == {
        c: "ran" for c in COMPONENTS
    }
    assert first_run.pushed and first_run.push["version"] == 1
    assert first_run.blessings["model"]["blessed"] and first_run.blessings["infra"]["blessed"]
    assert first_run.metrics["overall"]["sparse_categorical_accuracy"] >= 0.8
    assert {"island=Biscoe", "sex=female"} <= first_run.metrics.keys()


def test_evaluator_and_infra_validator_run_at_the_same_time(workspace, first_run):
    store = _store(workspace)
    run = mlmd.latest_run_context(store, workspace.pipeline_name)
    recorded = mlmd.node_executions(store, run.id)
    spans = {
        node_id: (e.execution.create_time_since_epoch, e.execution.last_update_time_since_epoch)
        for node_id, e in recorded.items()
        if node_id in ("Evaluator", "InfraValidator", "Trainer")
    }
    (eval_start, eval_end), (infra_start, infra_end) = spans["Evaluator"], spans["InfraValidator"]
    assert eval_start < infra_end and infra_start < eval_end  # the two overlap
    assert min(eval_start, infra_start) >= spans["Trainer"][1]  # both after the Trainer


def test_pushed_model_predicts_from_raw_serving_input(workspace, first_run):
    served = tf.saved_model.load(first_run.push["path"])
    raw = served.signatures["serving_raw"]
    out = raw(
        island=tf.constant(["Biscoe", "Torgersen"]),
        sex=tf.constant(["female", ""]),  # "" = unknown sex
        bill_length_mm=tf.constant([47.5, 39.1]),
        bill_depth_mm=tf.constant([14.2, float("nan")]),  # NaN = not measured
        flipper_length_mm=tf.constant([217.0, 181.0]),
        body_mass_g=tf.constant([4875.0, 3750.0]),
    )
    assert [c.decode() for c in out["classes"].numpy()] == ["Gentoo", "Adelie"]
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)

    example = tf.train.Example()
    for key, value in {"island": b"Dream", "sex": b"male"}.items():
        example.features.feature[key].bytes_list.value.append(value)
    for key, value in {"bill_length_mm": 50.0, "bill_depth_mm": 19.5}.items():
        example.features.feature[key].float_list.value.append(value)
    for key, value in {"flipper_length_mm": 196, "body_mass_g": 3900}.items():
        example.features.feature[key].int64_list.value.append(value)
    out = served.signatures["serving_default"](examples=tf.constant([example.SerializeToString()]))
    assert out["classes"].numpy()[0].decode() in features.SPECIES


def _requests_log(path: Path, data_root: Path, island: str | None = None) -> Path:
    """Span 3's rows as a JSONL log of serving requests (raw values, no label)."""
    with open(data_root / "span-3" / "penguins.csv") as f, open(path, "w") as log:
        for row in csv.DictReader(f):
            request = {"island": island or row["island"], "sex": row["sex"]}
            for key in features.NUMERIC_FEATURE_KEYS:
                request[key] = float(row[key]) if row[key] else None
            log.write(json.dumps(request) + "\n")
    return path


def test_skew_check_passes_a_clean_log_and_flags_a_skewed_one(workspace, first_run, tmp_path):
    output = str(workspace.resolved().output_dir)
    clean = _requests_log(tmp_path / "clean.jsonl", workspace.data_root)
    result = CliRunner().invoke(main, ["skew", str(clean), "--output", output, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["skewed"] == []

    skewed = _requests_log(tmp_path / "skewed.jsonl", workspace.data_root, island="Dream")
    result = CliRunner().invoke(main, ["skew", str(skewed), "--output", output, "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["skewed"] == ["island"]


def test_identical_rerun_is_cached_and_pushes_nothing(workspace, first_run, second_run):
    states = {n.node_id: n.state for n in second_run.nodes}
    # Every component, the Evaluator and the Pusher included: the baseline resolver skips
    # the candidate itself, so the Evaluator is asked exactly what the first run asked.
    assert {c for c in COMPONENTS if states.get(c) != "cached"} == set()
    assert not second_run.pushed
    assert second_run.push["version"] == 1
    assert pushing.versions(workspace.resolved().serving_dir) == [1]


def test_partial_run_runs_only_the_components_asked_for(workspace, second_run):
    partial = runner.run(workspace, from_nodes=("InfraValidator",))
    assert [n.node_id for n in partial.nodes] == ["InfraValidator", "Pusher"]
    assert not partial.pushed
    assert pushing.versions(workspace.resolved().serving_dir) == [1]


def _write_span(data_root: Path, span: int, mutate) -> None:
    source = data_root / "span-3" / "penguins.csv"
    rows = list(csv.DictReader(source.open()))
    rows, columns = mutate(rows, list(rows[0]))
    target = data_root / f"span-{span}"
    target.mkdir()
    with open(target / "penguins.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _unknown_island(rows, columns):
    for row in rows[::10]:
        row["island"] = "Atlantis"
    return rows, columns


def _missing_column(rows, columns):
    return rows, [c for c in columns if c != "sex"]


@pytest.mark.parametrize(
    ("span", "mutate", "named"),
    [(4, _unknown_island, "island"), (5, _missing_column, "sex")],
    ids=["unknown-island", "missing-column"],
)
def test_anomalous_span_stops_before_transform_and_keeps_the_pushed_model(
    workspace, second_run, span, mutate, named
):
    serving = workspace.resolved().serving_dir
    before = pushing.fingerprint(serving / "1")
    _write_span(workspace.data_root, span, mutate)

    with pytest.raises(runner.PipelineFailed) as failure:
        runner.run(workspace)

    assert failure.value.node_id == "DataGate"
    message = str(failure.value)
    assert message.startswith(f"data validation failed for span {span}")
    assert f"{named}:" in message
    store = _store(workspace)
    run = mlmd.latest_run_context(store, workspace.pipeline_name)
    ran = mlmd.node_executions(store, run.id)
    assert ran["DataGate"].state == "failed"
    assert not {"Transform", "Tuner", "Trainer", "Pusher"} & ran.keys()
    assert pushing.versions(serving) == [1]
    assert pushing.fingerprint(serving / "1") == before


def _body_mass_shifted(rows, columns):
    for row in rows:
        if row["body_mass_g"]:
            row["body_mass_g"] = str(int(row["body_mass_g"]) + 1000)
    return rows, columns


def _all_on_biscoe(rows, columns):
    for row in rows:
        row["island"] = "Biscoe"
    return rows, columns


def _sex_mostly_missing(rows, columns):
    for row in rows[::2]:
        row["sex"] = ""
    return rows, columns


@pytest.mark.parametrize(
    ("span", "mutate", "expected"),
    [
        (6, _body_mass_shifted, "body_mass_g: jensen_shannon_divergence"),
        (7, _all_on_biscoe, "island: l_infinity"),
        (8, _sex_mostly_missing, "sex:"),
    ],
    ids=["body-mass-shifted", "island-mix-changed", "sex-mostly-missing"],
)
def test_drifted_span_stops_before_transform_naming_the_feature(
    workspace, second_run, span, mutate, expected
):
    serving = workspace.resolved().serving_dir
    versions_before = pushing.versions(serving)
    _write_span(workspace.data_root, span, mutate)

    with pytest.raises(runner.PipelineFailed) as failure:
        runner.run(workspace)

    assert failure.value.node_id == "DataGate"
    assert str(failure.value).startswith(f"data validation failed for span {span}")
    assert expected in str(failure.value)
    store = _store(workspace)
    ran = mlmd.node_executions(store, mlmd.latest_run_context(store, workspace.pipeline_name).id)
    assert not {"Transform", "Trainer", "Pusher"} & ran.keys()
    assert pushing.versions(serving) == versions_before


def test_accepted_drift_passes_the_gate_and_is_recorded(workspace, second_run):
    # Span 6 (body mass shifted) exists from the test above; accept it, up to the gate.
    config = dataclasses.replace(
        workspace, spans=SpanSelection.parse("6"), accept_drift=("body_mass_g",)
    )
    report = runner.run(config, to_nodes=("DataGate",))

    assert {n.node_id: n.state for n in report.nodes}["DataGate"] == "ran"
    store = _store(workspace)
    run = mlmd.latest_run_context(store, workspace.pipeline_name)
    validator = mlmd.node_executions(store, run.id)["DriftValidator"]
    (drift_report,) = mlmd.output_artifacts(store, validator.execution.id)["report"]
    assert mlmd.custom(drift_report, "drifted_features") == "body_mass_g"
    assert mlmd.custom(drift_report, "accepted_features") == "body_mass_g"
    assert mlmd.custom(drift_report, "accepted_by") == "--accept-drift body_mass_g"
    assert mlmd.custom(drift_report, "blocking") == 0


def test_span_range_ingests_validates_and_trains_on_every_span(workspace, first_run, second_run):
    config = dataclasses.replace(workspace, spans=SpanSelection.parse("1-3"))
    report = runner.run(config)

    ingested = {(n.node_id, n.span): n.state for n in report.nodes if n.span is not None}
    assert ingested[("DataGate", 1)] == ingested[("DataGate", 2)] == "ran"
    assert report.spans == [1, 2, 3]
    store = _store(workspace)
    run = mlmd.latest_run_context(store, workspace.pipeline_name)
    transform = mlmd.node_executions(store, run.id)["Transform"]
    assert transform.state == "ran"
    examples = mlmd.input_artifacts(store, transform.execution.id)["examples"]
    assert sorted(mlmd.custom(e, "span") for e in examples) == [1, 2, 3]
    # Evaluated on the eval split of all three spans, not span 3's alone.
    span_3_only = first_run.metrics["overall"]["example_count"]
    assert report.metrics["overall"]["example_count"] > 2 * span_3_only


def test_span_range_with_an_anomalous_earlier_span_stops_at_its_data_gate(workspace, second_run):
    config = dataclasses.replace(workspace, spans=SpanSelection.parse("4-5"))
    serving = workspace.resolved().serving_dir
    versions_before = pushing.versions(serving)

    with pytest.raises(runner.PipelineFailed) as failure:
        runner.run(config)

    assert failure.value.node_id == "DataGate"
    assert str(failure.value).startswith("data validation failed for span 4")
    assert str(failure.value).endswith("(span 4)")
    assert pushing.versions(serving) == versions_before
