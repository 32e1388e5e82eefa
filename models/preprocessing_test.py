"""preprocessing_fn through TFT's real Beam implementation, on tiny data with gaps."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from models import features, model, preprocessing

RAW_SPEC = {
    "species": tf.io.FixedLenFeature([1], tf.string),
    "island": tf.io.FixedLenFeature([1], tf.string),
    "bill_length_mm": tf.io.VarLenFeature(tf.float32),
    "bill_depth_mm": tf.io.VarLenFeature(tf.float32),
    "flipper_length_mm": tf.io.VarLenFeature(tf.int64),
    "body_mass_g": tf.io.VarLenFeature(tf.int64),
    "sex": tf.io.VarLenFeature(tf.string),
    "year": tf.io.FixedLenFeature([1], tf.int64),
}


def _row(species, island, bill, depth, flipper, mass, sex):
    return {
        "species": [species],
        "island": [island],
        "year": [2009],
        "bill_length_mm": [] if bill is None else [bill],
        "bill_depth_mm": [] if depth is None else [depth],
        "flipper_length_mm": [] if flipper is None else [flipper],
        "body_mass_g": [] if mass is None else [mass],
        "sex": [] if sex is None else [sex],
    }


ROWS = [
    _row("Adelie", "Torgersen", 39.0, 18.0, 180, 3700, "male"),
    _row("Gentoo", "Biscoe", 47.0, 15.0, 220, 5000, "female"),
    _row("Chinstrap", "Dream", 49.0, 18.5, 195, 3800, None),
    _row("Adelie", "Dream", None, None, None, None, "female"),
]


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    """(transformed rows, TFTransformOutput) for ROWS."""
    out_dir = tmp_path_factory.mktemp("tft")
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(RAW_SPEC))
    with tft_beam.Context(temp_dir=str(out_dir / "tmp"), force_tf_compat_v1=False):
        (rows, _), transform_fn = (ROWS, metadata) | tft_beam.AnalyzeAndTransformDataset(
            preprocessing.preprocessing_fn, output_record_batches=False
        )
        _ = transform_fn | tft_beam.WriteTransformFn(str(out_dir / "transform"))
    return rows, tft.TFTransformOutput(str(out_dir / "transform"))


def test_numeric_features_are_imputed_flagged_and_scaled(transformed):
    rows, _ = transformed
    mass = np.array([r[features.transformed_name("body_mass_g")][0] for r in rows])
    missing = [r[features.missing_indicator_name("body_mass_g")][0] for r in rows]
    assert missing == [0.0, 0.0, 0.0, 1.0]
    # Mean imputed: the absent value scales to exactly 0, the present ones to z-scores.
    assert mass[3] == pytest.approx(0.0)
    assert mass[:3].mean() == pytest.approx(0.0, abs=1e-5)
    assert mass[:3].std() == pytest.approx(1.0, abs=1e-4)


def test_missing_category_is_its_own_value_and_label_uses_fixed_order(transformed):
    rows, tft_output = transformed
    sex = [r[features.transformed_name("sex")][0] for r in rows]
    vocabulary = tft_output.vocabulary_by_name("sex")
    assert features.MISSING_CATEGORY.encode() in vocabulary
    assert vocabulary[sex[2]] == features.MISSING_CATEGORY.encode()
    labels = [r[features.transformed_name("species")][0] for r in rows]
    assert labels == [0, 2, 1, 0]


def test_unseen_category_maps_to_the_oov_bucket(transformed):
    _, tft_output = transformed
    example = tf.train.Example()
    example.features.feature["island"].bytes_list.value.append(b"Atlantis")
    example.features.feature["year"].int64_list.value.append(2009)
    serving_spec = {k: v for k, v in RAW_SPEC.items() if k != features.LABEL_KEY}
    parsed = tf.io.parse_example([example.SerializeToString()], serving_spec)
    island = tft_output.transform_features_layer()(parsed)[features.transformed_name("island")]
    assert island.numpy()[0][0] == tft_output.vocabulary_size_by_name("island")  # the OOV bucket


def test_model_builds_from_transform_output_and_predicts_probabilities(transformed):
    rows, tft_output = transformed
    keras_model = model.build_keras_model(model.HParams(hidden_units=8), tft_output)
    batch = {k: np.array([r[k] for r in rows]) for k in features.model_input_keys()}
    probabilities = keras_model.predict(batch, verbose=0)
    assert probabilities.shape == (len(rows), len(features.SPECIES))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_hparams_ignore_unknown_names_and_keep_defaults():
    hp = model.HParams.from_values({"hidden_units": 32, "unknown": 1})
    assert hp.hidden_units == 32 and hp.hidden_layers == model.HParams().hidden_layers
