"""The training step and the accuracy the Tuner ranks trials by, on separable data."""

import numpy as np
import tensorflow as tf

from models import features, model


class _Vocabularies:
    """What build_keras_model reads of a Transform output: the vocabulary sizes."""

    def num_buckets_for_transformed_feature(self, name: str) -> int:
        return 4


def _batches(rows: int = 256, batch_size: int = 32) -> tf.data.Dataset:
    """Transformed-looking features; the species is told by flipper length alone."""
    rng = np.random.default_rng(0)
    species = rng.integers(0, len(features.SPECIES), rows)
    inputs = {}
    for key in features.NUMERIC_FEATURE_KEYS:
        noise = rng.normal(0.0, 1.0, rows)
        value = species * 3.0 + 0.3 * noise if key == "flipper_length_mm" else noise
        inputs[features.transformed_name(key)] = value.astype(np.float32)[:, None]
        inputs[features.missing_indicator_name(key)] = np.zeros((rows, 1), np.float32)
    for key in features.CATEGORICAL_FEATURE_KEYS:
        inputs[features.transformed_name(key)] = rng.integers(0, 3, (rows, 1))
    labels = species[:, None].astype(np.int64)
    return tf.data.Dataset.from_tensor_slices((inputs, labels)).repeat().batch(batch_size)


def test_training_learns_what_the_accuracy_measures():
    tf.keras.utils.set_random_seed(0)
    net = model.build_keras_model(model.HParams(), _Vocabularies())
    before = model.accuracy(net, _batches(), steps=8)
    model.train(net, _batches(), steps=150, learning_rate=1e-2)
    after = model.accuracy(net, _batches(), steps=8)
    assert after >= 0.95 > before
