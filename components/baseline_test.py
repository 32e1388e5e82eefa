"""The Evaluator's baseline: the newest blessed model that is not the candidate."""

from tfx.types import standard_artifacts

from components.baseline import latest_other_blessed


def _model(artifact_id):
    model = standard_artifacts.Model()
    model.id = artifact_id
    return model


def _blessing(model_id, blessed):
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property("current_model_id", model_id)
    blessing.set_int_custom_property("blessed", int(blessed))
    return blessing


MODELS = [_model(1), _model(2), _model(3)]
BLESSINGS = [_blessing(1, True), _blessing(2, True), _blessing(3, False)]


def test_a_new_candidate_is_compared_with_the_newest_blessed_model():
    model, blessing = latest_other_blessed([_model(4)], MODELS, BLESSINGS)
    assert [m.id for m in model] == [2]
    assert blessing[0].get_int_custom_property("current_model_id") == 2


def test_the_candidate_is_never_its_own_baseline():
    model, _ = latest_other_blessed([_model(2)], MODELS, BLESSINGS)
    assert [m.id for m in model] == [1]


def test_no_blessed_model_means_no_baseline():
    assert latest_other_blessed([_model(1)], MODELS[:1], BLESSINGS[:1]) == ([], [])
