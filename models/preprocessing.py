"""Transform's `preprocessing_fn`: one graph for training and serving.

- Numeric features: values are scaled to z-scores, absent values are imputed with the
  training mean (0 after scaling), and an explicit 0/1 indicator records that they
  were absent.
- Categorical features: absent values become `MISSING_CATEGORY`, then a vocabulary
  maps them to integers, with one out-of-vocabulary bucket for unseen values.
- The label maps to its index in the fixed `SPECIES` list.

Every output has shape [batch, 1].
"""

import tensorflow as tf
import tensorflow_transform as tft

from models import features


def _to_dense(x: tf.Tensor | tf.SparseTensor, default_value) -> tf.Tensor:
    """A [batch, 1] dense tensor from a feature that may be sparse (may be absent)."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]),
            default_value=default_value,
        )
    return tf.reshape(x, [-1, 1])


def _numeric(x: tf.Tensor | tf.SparseTensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Z-score over the present values, absent ones imputed with the mean (0 after
    scaling), and the missing-value indicator."""
    values = tf.cast(x, tf.float32)
    missing = tf.math.is_nan(_to_dense(values, float("nan")))
    # One mean-and-variance analyzer over the (sparse) present values only: absent
    # ones do not bias it.
    scaled = _to_dense(tft.scale_to_z_score(values), 0.0)
    return scaled, tf.cast(missing, tf.float32)


def _categorical(x: tf.Tensor | tf.SparseTensor, vocab_name: str) -> tf.Tensor:
    dense = _to_dense(x, "")
    dense = tf.where(tf.equal(dense, ""), features.MISSING_CATEGORY, dense)
    return tft.compute_and_apply_vocabulary(dense, num_oov_buckets=1, vocab_filename=vocab_name)


def _label(x: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    # The schema's species domain (checked by the data gate) guarantees a match.
    dense = _to_dense(x, "")
    matches = tf.equal(dense, tf.constant(features.SPECIES))
    return tf.argmax(tf.cast(matches, tf.int64), axis=1, output_type=tf.int64)[:, tf.newaxis]


# Plain TensorFlow with no Python control flow on tensors: AutoGraph has nothing to
# convert here, and converting it (and tf.Transform's analyzers with it) costs seconds
# each time Transform traces the function.
@tf.autograph.experimental.do_not_convert
def preprocessing_fn(inputs: dict) -> dict:
    """TFT entry point, referenced by module path from the pipeline."""
    outputs = {}
    for key in features.NUMERIC_FEATURE_KEYS:
        scaled, missing = _numeric(inputs[key])
        outputs[features.transformed_name(key)] = scaled
        outputs[features.missing_indicator_name(key)] = missing
    for key in features.CATEGORICAL_FEATURE_KEYS:
        outputs[features.transformed_name(key)] = _categorical(inputs[key], vocab_name=key)
    if features.LABEL_KEY in inputs:
        outputs[features.transformed_name(features.LABEL_KEY)] = _label(inputs[features.LABEL_KEY])
    return outputs
