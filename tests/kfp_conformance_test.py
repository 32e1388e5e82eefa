"""The conformance runner's own strictness (the whole spec runs in `make kfp-check`)."""

import pytest

from tests.kfp_conformance import Artifact, TaskFailed, _query, evaluate_condition

CONDITION = (
    "((inputs.artifacts['model_blessing'].artifacts[0].metadata['blessed'] == 1.0) && "
    "(inputs.artifacts['infra_blessing'].artifacts[0].metadata['blessed'] == 1.0))"
)


def _blessing(blessed: float, title="tfx.ModelBlessing", name="artifacts/1"):
    return Artifact(name, "minio://b/x", title, {"blessed": blessed, "current_model_id": "7"})


def test_condition_holds_only_with_both_blessings():
    declared = {"model_blessing", "infra_blessing"}
    both = {"model_blessing": [_blessing(1.0)], "infra_blessing": [_blessing(1.0)]}
    one = {"model_blessing": [_blessing(1.0)], "infra_blessing": [_blessing(0.0)]}
    assert evaluate_condition(CONDITION, both, declared)
    assert not evaluate_condition(CONDITION, one, declared)


def test_condition_on_an_undeclared_input_fails_as_on_kfp():
    # What TFX 1.16 compiles before `compile._fix_condition_keys`.
    raw = CONDITION.replace("'model_blessing'", "'_Evaluator.blessing'")
    with pytest.raises(TaskFailed, match="_Evaluator.blessing"):
        evaluate_condition(raw, {}, {"model_blessing", "infra_blessing"})


def test_resolver_query_finds_the_newest_blessed_and_its_model():
    registry = [
        _blessing(1.0, name="artifacts/1"),
        _blessing(0.0, name="artifacts/2"),
        Artifact("7", "minio://b/model", "tfx.Model", {}),
    ]
    blessing_filter = (
        'schema_title="tfx.ModelBlessing" AND state=LIVE AND metadata.blessed.number_value=1'
    )
    (blessing,) = _query(blessing_filter, registry, {})
    assert blessing.name == "artifacts/1"
    model_filter = (
        'schema_title="tfx.Model" AND state=LIVE AND '
        "name=\"{{$.inputs.artifacts['input'].metadata['current_model_id']}}\""
    )
    (model,) = _query(model_filter, registry, {"input": [blessing]})
    assert model.uri == "minio://b/model"
