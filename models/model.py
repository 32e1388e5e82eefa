"""The Keras model, and the Tuner and Trainer entry points (`tuner_fn`, `run_fn`).

The exported SavedModel carries the Transform graph and three signatures:
- `serving_default`: serialized raw tf.Examples in, class probabilities out;
- `serving_raw`: raw feature values in (JSON-friendly: NaN or "" for absent values);
- `transform_features`: the Transform graph alone, for the Evaluator.
"""

from __future__ import annotations

import dataclasses

import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from models import features

_LABEL = features.transformed_name(features.LABEL_KEY)


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
    """A small MLP over the transformed features."""
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

    model = tf.keras.Model(inputs=inputs, outputs=outputs)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(hparams.learning_rate),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(),
        metrics=[tf.keras.metrics.SparseCategoricalAccuracy()],
    )
    return model


def _dataset(
    fn_args: tfx.components.FnArgs,
    files: list[str],
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
) -> tf.data.Dataset:
    return fn_args.data_accessor.tf_dataset_factory(
        files,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=_LABEL),
        tf_transform_output.transformed_metadata.schema,
    ).repeat()


def _custom(fn_args: tfx.components.FnArgs, key: str):
    """A setting the pipeline passes in custom_config (seed, batch_size, max_trials)."""
    return fn_args.custom_config[key]


def tuner_fn(fn_args: tfx.components.FnArgs) -> tfx.components.TunerFnResult:
    """Tuner entry point: a bounded random search (trials from custom_config)."""
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    seed = _custom(fn_args, "seed")
    tuner = keras_tuner.RandomSearch(
        lambda hp: build_keras_model(HParams.from_values(hp.values), tf_transform_output),
        hyperparameters=search_space(),
        objective=keras_tuner.Objective("val_sparse_categorical_accuracy", "max"),
        max_trials=_custom(fn_args, "max_trials"),
        seed=seed,
        directory=fn_args.working_dir,
        project_name="penguins",
    )
    batch_size = _custom(fn_args, "batch_size")
    return tfx.components.TunerFnResult(
        tuner=tuner,
        fit_kwargs={
            "x": _dataset(fn_args, fn_args.train_files, tf_transform_output, batch_size),
            "validation_data": _dataset(
                fn_args, fn_args.eval_files, tf_transform_output, batch_size
            ),
            "steps_per_epoch": fn_args.train_steps,
            "validation_steps": fn_args.eval_steps,
            "verbose": 0,
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

    def predict(parsed: dict) -> dict:
        probabilities = model(model.tft_layer(parsed))
        class_ids = tf.argmax(probabilities, axis=1)
        return {
            "probabilities": probabilities,
            "class_ids": class_ids,
            "classes": tf.gather(species, class_ids),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(serialized):
        return predict(tf.io.parse_example(serialized, raw_spec))

    raw_inputs = {
        key: tf.TensorSpec([None], tf.string if spec.dtype == tf.string else tf.float32, name=key)
        for key, spec in raw_spec.items()
    }

    @tf.function(input_signature=[raw_inputs])
    def serve_raw(values):
        return predict(_raw_values_to_features(values, raw_spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized):
        full_spec = tf_transform_output.raw_feature_spec()
        return model.tft_layer(tf.io.parse_example(serialized, full_spec))

    return {
        "serving_default": serve_examples.get_concrete_function(),
        "serving_raw": serve_raw.get_concrete_function(),
        "transform_features": transform_features.get_concrete_function(),
    }


def run_fn(fn_args: tfx.components.FnArgs) -> None:
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
    model.fit(
        _dataset(fn_args, fn_args.train_files, tf_transform_output, batch_size),
        steps_per_epoch=fn_args.train_steps,
        validation_data=_dataset(fn_args, fn_args.eval_files, tf_transform_output, batch_size),
        validation_steps=fn_args.eval_steps,
        verbose=0,
    )
    model.save(
        fn_args.serving_model_dir,
        save_format="tf",
        signatures=_signatures(model, tf_transform_output),
    )
