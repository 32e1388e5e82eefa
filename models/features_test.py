from models import features


def test_transformed_names_are_distinct_from_raw_names():
    raw = {*features.NUMERIC_FEATURE_KEYS, *features.CATEGORICAL_FEATURE_KEYS, features.LABEL_KEY}
    transformed = set(features.model_input_keys())
    assert len(transformed) == len(features.model_input_keys())
    assert not raw & transformed


def test_model_inputs_cover_every_feature_and_exclude_label_and_metadata():
    keys = features.model_input_keys()
    for key in features.NUMERIC_FEATURE_KEYS:
        assert features.transformed_name(key) in keys
        assert features.missing_indicator_name(key) in keys
    for key in features.CATEGORICAL_FEATURE_KEYS:
        assert features.transformed_name(key) in keys
    assert features.transformed_name(features.LABEL_KEY) not in keys
    assert not any(k.startswith(features.METADATA_KEYS) for k in keys)
