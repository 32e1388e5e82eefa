"""The Keras model, how it trains, and the Tuner and Trainer entry points
(`tuner_fn`, `run_fn`).

Training runs one traced step function per model, without AutoGraph: Keras's `fit`
converts its whole training loop through AutoGraph for every new model, which cost
about 6 s per Tuner trial here, more than the training itself.

The exported SavedModel carries the Transform graph and three signatures:
- `serving_default`: serialized raw tf.Examples in, class probabilities out;
- `serving_raw`: raw feature values in (JSON-friendly: NaN or "" for absent values);
- `transform_features`: the Transform graph alone, for the Evaluator.
It is saved for serving (`tf.saved_model.load`), without per-layer Keras traces.
"""

from __future__ import annotations

import dataclasses
import logging

import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult
from tfx_bsl.public import tfxio

from models import features

_LABEL = features.transformed_name(features.LABEL_KEY)
# What the Tuner maximises: accuracy on the eval split.
OBJECTIVE = "val_accuracy"


@dataclasses.dataclass(frozen=True)
class HParams:
    """Hyperparameters of the model; the Tuner searches over the same names."""

    hidden_units: int = 16
    hidden_layers: int = 1
    learning_rate: float = 1e-2

    @classmethod
    def from_values(cls, values: dict | None) -> HParams:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (values or {}).items() if k in names})


def search_space() -> keras_tuner.HyperParameters:
    """The Tuner's search space: small on purpose, this is a 4-feature problem."""
    hp = keras_tuner.HyperParameters()
    hp.Choice("hidden_units", [8, 16, 32])
    hp.Int("hidden_layers", 1, 2)
    hp.Choice("learning_rate", [1e-2, 3e-3])
    return hp


def build_keras_model(
    hparams: HParams, tf_transform_output: tft.TFTransformOutput
) -> tf.keras.Model:
    """A small MLP over the transformed features; `train` fits it."""
    inputs, encoded = {}, []
    for key in features.NUMERIC_FEATURE_KEYS:
        for name in (features.transformed_name(key), features.missing_indicator_name(key)):
            inputs[name] = tf.keras.Input(shape=(1,), name=name, dtype=tf.float32)
            encoded.append(inputs[name])
    for key in features.CATEGORICAL_FEATURE_KEYS:
        name = features.transformed_name(key)
        inputs[name] = tf.keras.Input(shape=(1,), name=name, dtype=tf.int64)
        depth = tf_transform_output.num_buckets_for_transformed_feature(name)
        encoded.append(tf.keras.layers.CategoryEncoding(depth, output_mode="one_hot")(inputs[name]))

    x = tf.keras.layers.Concatenate()(encoded)
    for _ in range(hparams.hidden_layers):
        x = tf.keras.layers.Dense(hparams.hidden_units, activation="relu")(x)
    outputs = tf.keras.layers.Dense(len(features.SPECIES), activation="softmax")(x)
    return tf.keras.Model(inputs=inputs, outputs=outputs)


def train(model: tf.keras.Model, batches: tf.data.Dataset, steps: int, learning_rate: float):
    """Minimises cross-entropy with Adam over the first `steps` (features, label) batches."""
    optimizer = tf.keras.optimizers.Adam(learning_rate)
    cross_entropy = tf.keras.losses.SparseCategoricalCrossentropy()
    variables = model.trainable_variables

    @tf.function(autograph=False)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = cross_entropy(y, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))

    for x, y in batches.take(steps):
        step(x, y)


def accuracy(model: tf.keras.Model, batches: tf.data.Dataset, steps: int) -> float:
    """The share of examples in the first `steps` batches whose species is predicted."""

    @tf.function(autograph=False)
    def correct(x, y):
        predicted = tf.argmax(model(x, training=False), axis=1)
        hits = tf.equal(predicted, tf.reshape(y, [-1]))
        return tf.reduce_sum(tf.cast(hits, tf.int64)), tf.size(hits, out_type=tf.int64)

    hits = seen = 0
    for x, y in batches.take(steps):
        batch_hits, batch_size = correct(x, y)
        hits, seen = hits + int(batch_hits), seen + int(batch_size)
    return hits / max(seen, 1)


def _dataset(
    fn_args: FnArgs,
    files: list[str],
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
) -> tf.data.Dataset:
    """Shuffled (features, label) batches of transformed examples, repeated forever."""
    return fn_args.data_accessor.tf_dataset_factory(
        files,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=_LABEL),
        tf_transform_output.transformed_metadata.schema,
    )


def _custom(fn_args: FnArgs, key: str):
    """A setting the pipeline passes in custom_config (seed, batch_size, max_trials)."""
    return fn_args.custom_config[key]


class _RandomSearch(keras_tuner.RandomSearch):
    """KerasTuner's random search, each trial trained by `train` rather than Keras fit."""

    def run_trial(self, trial, x, validation_data, steps_per_epoch, validation_steps, **_):
        model = self.hypermodel.build(trial.hyperparameters)
        hparams = HParams.from_values(trial.hyperparameters.values)
        train(model, x, steps_per_epoch, hparams.learning_rate)
        return {OBJECTIVE: accuracy(model, validation_data, validation_steps)}


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    """Tuner entry point: a bounded random search (trials from custom_config)."""
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    tuner = _RandomSearch(
        lambda hp: build_keras_model(HParams.from_values(hp.values), tf_transform_output),
        hyperparameters=search_space(),
        objective=keras_tuner.Objective(OBJECTIVE, "max"),
        max_trials=_custom(fn_args, "max_trials"),
        seed=_custom(fn_args, "seed"),
        directory=fn_args.working_dir,
        project_name="penguins",
    )
    batch_size = _custom(fn_args, "batch_size")
    return TunerFnResult(
        tuner=tuner,
        fit_kwargs={
            "x": _dataset(fn_args, fn_args.train_files, tf_transform_output, batch_size),
            "validation_data": _dataset(
                fn_args, fn_args.eval_files, tf_transform_output, batch_size
            ),
            "steps_per_epoch": fn_args.train_steps,
            "validation_steps": fn_args.eval_steps,
        },
    )


def _raw_feature_spec(tf_transform_output: tft.TFTransformOutput) -> dict:
    spec = dict(tf_transform_output.raw_feature_spec())
    for key in (features.LABEL_KEY, *features.METADATA_KEYS):
        spec.pop(key, None)
    return spec


def _raw_values_to_features(values: dict, raw_spec: dict) -> dict:
    """Raw feature values ([batch] tensors, NaN or "" when absent) as parsed tf.Examples."""
    parsed = {}
    for key, spec in raw_spec.items():
        value = values[key]
        present = tf.math.logical_not(
            tf.math.is_nan(value) if value.dtype.is_floating else tf.equal(value, "")
        )
        if spec.dtype.is_integer and value.dtype.is_floating:
            value = tf.cast(tf.round(tf.where(present, value, 0.0)), spec.dtype)
        if isinstance(spec, tf.io.VarLenFeature):
            rows = tf.cast(tf.where(present)[:, 0], tf.int64)
            parsed[key] = tf.SparseTensor(
                indices=tf.stack([rows, tf.zeros_like(rows)], axis=1),
                values=tf.boolean_mask(value, present),
                dense_shape=tf.stack([tf.shape(value, out_type=tf.int64)[0], 1]),
            )
        else:
            parsed[key] = tf.reshape(value, [-1, 1])
    return parsed


def _signatures(model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput) -> dict:
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = _raw_feature_spec(tf_transform_output)
    species = tf.constant(features.SPECIES)
    serialized_examples = tf.TensorSpec([None], tf.string, name="examples")

    def predict(parsed: dict) -> dict:
        probabilities = model(model.tft_layer(parsed))
        class_ids = tf.argmax(probabilities, axis=1)
        return {
            "probabilities": probabilities,
            "class_ids": class_ids,
            "classes": tf.gather(species, class_ids),
        }

    @tf.function(autograph=False, input_signature=[serialized_examples])
    def serve_examples(serialized):
        return predict(tf.io.parse_example(serialized, raw_spec))

    raw_inputs = {
        key: tf.TensorSpec([None], tf.string if spec.dtype == tf.string else tf.float32, name=key)
        for key, spec in raw_spec.items()
    }

    @tf.function(autograph=False, input_signature=[raw_inputs])
    def serve_raw(values):
        return predict(_raw_values_to_features(values, raw_spec))

    @tf.function(autograph=False, input_signature=[serialized_examples])
    def transform_features(serialized):
        full_spec = tf_transform_output.raw_feature_spec()
        return model.tft_layer(tf.io.parse_example(serialized, full_spec))

    return {
        "serving_default": serve_examples.get_concrete_function(),
        "serving_raw": serve_raw.get_concrete_function(),
        "transform_features": transform_features.get_concrete_function(),
    }


def run_fn(fn_args: FnArgs) -> None:
    """Trainer entry point: train with the tuned hyperparameters and export."""
    tf.keras.utils.set_random_seed(_custom(fn_args, "seed"))
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    hparams = HParams.from_values(
        keras_tuner.HyperParameters.from_config(fn_args.hyperparameters).values
        if fn_args.hyperparameters
        else None
    )
    batch_size = _custom(fn_args, "batch_size")
    model = build_keras_model(hparams, tf_transform_output)
    batches = _dataset(fn_args, fn_args.train_files, tf_transform_output, batch_size)
    train(model, batches, fn_args.train_steps, hparams.learning_rate)
    eval_batches = _dataset(fn_args, fn_args.eval_files, tf_transform_output, batch_size)
    logging.info(
        "Trained %s for %d steps; eval accuracy %.3f",
        hparams,
        fn_args.train_steps,
        accuracy(model, eval_batches, fn_args.eval_steps),
    )
    # Per-layer Keras traces are what `tf.keras.models.load_model` would rebuild the
    # model from; nothing here reloads it as Keras, and tracing them cost seconds.
    model.save(
        fn_args.serving_model_dir,
        save_format="tf",
        signatures=_signatures(model, tf_transform_output),
        save_traces=False,
    )
