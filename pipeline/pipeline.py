"""The pipeline graph: one `create_pipeline`, shared by every runner and test.

CsvExampleGen → StatisticsGen → SchemaGen (inferred, for comparison)
                              → ImportSchemaGen (curated) → ExampleValidator → DataGate
[→ span_range: every span of a range A-B, when one is asked for]
→ Transform → Tuner → Trainer → Evaluator (vs. latest blessed) → InfraValidator
→ Pusher (only when both blessings hold)
"""

from __future__ import annotations

import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2
from tensorflow_model_analysis import constants as tfma_constants

# Not `tfx.v1`: it also imports TFX's Google Cloud extensions, about 10 s per start-up.
from tfx.components import (
    CsvExampleGen,
    Evaluator,
    ExampleValidator,
    SchemaGen,
    StatisticsGen,
    Trainer,
    Transform,
    Tuner,
)
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.experimental.conditionals.conditional import Cond
from tfx.dsl.placeholder import placeholder as ph
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, range_config_pb2, trainer_pb2
from tfx.types import Channel, standard_artifacts

from components.baseline import LatestOtherBlessedModelStrategy
from components.data_gate import DataGate
from components.drift import DriftValidator
from components.drift_baseline import DriftBaselineStrategy
from components.infra_validator.component import InfraValidator
from components.mlmd_baseline.component import DriftBaselineStatistics, LatestBlessedModel
from components.pusher.component import Pusher
from components.span_range import SpanRangeStrategy
from components.transform_cache import ReusableTransformCacheStrategy
from models import features
from pipeline.config import PipelineConfig

SPAN_PATTERN = "span-{SPAN}/*"
PREPROCESSING_FN = "models.preprocessing.preprocessing_fn"
TUNER_FN = "models.model.tuner_fn"
RUN_FN = "models.model.run_fn"


def _example_gen(config: PipelineConfig) -> CsvExampleGen:
    """Ingests the latest span, or the last span of the selection (one span per execution)."""
    range_config = None
    if config.spans.last is not None:
        span = config.spans.last
        range_config = range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(start_span_number=span, end_span_number=span)
        )
    return CsvExampleGen(
        input_base=config.locations().data_root,
        input_config=example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="all", pattern=SPAN_PATTERN)]
        ),
        range_config=range_config,
    )


def _validation(config: PipelineConfig, example_gen, on_kubeflow: bool):
    """Statistics, schemas, anomalies and drift, and the gate that stops the run on them.
    Returns the nodes, the curated schema channel, and the gate."""
    examples = example_gen.outputs["examples"]
    statistics_gen = StatisticsGen(examples=examples)
    statistics = statistics_gen.outputs["statistics"]
    inferred_schema = SchemaGen(statistics=statistics)
    curated_schema = ImportSchemaGen(schema_file=config.locations().schema_file)
    example_validator = ExampleValidator(
        statistics=statistics, schema=curated_schema.outputs["schema"]
    )
    # The baseline comes from MLMD: locally a resolver asks it; on Kubeflow, whose backend
    # runs no resolver, a task of ours asks KFP's ML Metadata the same question.
    if on_kubeflow:
        # KFP 2.0.5 compiles a task name with "_" into an Argo `depends` it cannot parse.
        drift_baseline = DriftBaselineStatistics(examples=examples).with_id("DriftBaseline")
    else:
        drift_baseline = Resolver(
            strategy_class=DriftBaselineStrategy,
            examples=examples,
            statistics=Channel(
                type=standard_artifacts.ExampleStatistics,
                producer_component_id=statistics_gen.id,
            ),
        ).with_id("drift_baseline")
    accepted = ",".join(config.accept_drift)
    drift_validator = DriftValidator(
        statistics=statistics,
        schema=curated_schema.outputs["schema"],
        baseline_statistics=drift_baseline.outputs["statistics"],
        accept_drift=accepted,
        accepted_by=f"--accept-drift {accepted}" if accepted else "",
    )
    data_gate = DataGate(
        examples=examples,
        anomalies=example_validator.outputs["anomalies"],
        drift_report=drift_validator.outputs["report"],
    )
    nodes = [statistics_gen, inferred_schema, curated_schema, example_validator, drift_baseline]
    return [*nodes, drift_validator, data_gate], curated_schema.outputs["schema"], data_gate


def _eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    accuracy = tfma.MetricConfig(
        class_name="SparseCategoricalAccuracy",
        threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(
                lower_bound={"value": config.accuracy_threshold}
            ),
            # Ignored when there is no blessed baseline yet (the first run).
            change_threshold=tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                absolute={"value": -config.max_accuracy_drop - 1e-10},
            ),
        ),
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                # A plain SavedModel (see models.model): said here, TFMA would otherwise
                # try loading it as Keras first to find out.
                model_type=tfma_constants.TF_GENERIC,
                signature_name="serving_default",
                label_key=features.transformed_name(features.LABEL_KEY),
                prediction_key="probabilities",
                preprocessing_function_names=["transform_features"],
            )
        ],
        slicing_specs=[
            tfma.SlicingSpec(),
            tfma.SlicingSpec(feature_keys=["island"]),
            tfma.SlicingSpec(feature_keys=["sex"]),
        ],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(class_name="SparseCategoricalCrossentropy"),
                    accuracy,
                ]
            )
        ],
    )


def create_pipeline(
    config: PipelineConfig,
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None,
) -> Pipeline:
    """The whole pipeline for `config`.

    `metadata_connection_config` None means Kubeflow, where KFP records lineage in its own
    MLMD. KFP's backend runs no resolver: there, the two baselines (the Evaluator's and
    the drift check's) are found by tasks of ours that query KFP's ML Metadata, and the
    other two resolvers are local-only: analyzer-cache reuse (a speed-up; on Kubeflow
    Transform analyses from scratch) and span ranges (refused there).
    """
    on_kubeflow = metadata_connection_config is None
    if on_kubeflow and config.spans.is_range:
        raise ValueError(
            f"span range {config.spans} runs locally only: on Kubeflow choose 'latest' or one span"
        )
    training = config.training
    example_gen = _example_gen(config)
    examples = example_gen.outputs["examples"]
    validation, schema, data_gate = _validation(config, example_gen, on_kubeflow)

    # Training data: the span just ingested and validated, or every span of the range
    # (the runner ingests and validates the earlier ones first).
    span_range = None
    training_examples = examples
    if config.spans.is_range:
        span_range = Resolver(
            strategy_class=SpanRangeStrategy,
            config={"first": config.spans.first, "last": config.spans.last},
            examples=Channel(
                type=standard_artifacts.Examples, producer_component_id=example_gen.id
            ),
        ).with_id("span_range")
        span_range.add_upstream_node(data_gate)
        training_examples = span_range.outputs["examples"]

    transform_cache = None
    if not on_kubeflow:
        transform_cache = Resolver(
            strategy_class=ReusableTransformCacheStrategy,
            examples=training_examples,
            cache=Channel(type=standard_artifacts.TransformCache),
        ).with_id("transform_cache")
    transform = Transform(
        examples=training_examples,
        schema=schema,
        preprocessing_fn=PREPROCESSING_FN,
        analyzer_cache=transform_cache.outputs["cache"] if transform_cache else None,
        # StatisticsGen already describes the raw data, and nothing reads statistics of
        # the transformed data: computing them cost a Beam pass per run.
        disable_statistics=True,
    )
    # The data gate has no output Transform reads: make the dependency explicit.
    transform.add_upstream_node(data_gate)

    transformed = transform.outputs["transformed_examples"]
    transform_graph = transform.outputs["transform_graph"]
    shared_config = {"seed": training.seed, "batch_size": training.batch_size}
    tuner = Tuner(
        tuner_fn=TUNER_FN,
        examples=transformed,
        transform_graph=transform_graph,
        train_args=trainer_pb2.TrainArgs(num_steps=training.tuner_train_steps),
        eval_args=trainer_pb2.EvalArgs(num_steps=training.eval_steps),
        custom_config={**shared_config, "max_trials": training.tuner_trials},
    )
    trainer = Trainer(
        run_fn=RUN_FN,
        examples=transformed,
        transform_graph=transform_graph,
        schema=schema,
        hyperparameters=tuner.outputs["best_hyperparameters"],
        train_args=trainer_pb2.TrainArgs(num_steps=training.train_steps),
        eval_args=trainer_pb2.EvalArgs(num_steps=training.eval_steps),
        custom_config=shared_config,
    )
    model = trainer.outputs["model"]

    # The model the candidate must not regress from: the latest blessed model other than
    # the candidate (so an identical re-run is a cache hit). Locally a resolver finds it;
    # on Kubeflow a task of ours asks KFP's ML Metadata.
    if on_kubeflow:
        baseline = LatestBlessedModel(candidate=model).with_id("LatestBlessedModel")
    else:
        baseline = Resolver(
            strategy_class=LatestOtherBlessedModelStrategy,
            candidate=model,
            model=Channel(type=standard_artifacts.Model),
            model_blessing=Channel(type=standard_artifacts.ModelBlessing),
        ).with_id("latest_blessed_model")
    evaluator = Evaluator(
        examples=training_examples,
        model=model,
        baseline_model=baseline.outputs["model"],
        eval_config=_eval_config(config),
    )
    infra_validator = InfraValidator(
        model=model,
        examples=examples,
        model_name=config.model_name,
        label_key=features.LABEL_KEY,
    )

    model_blessing = evaluator.outputs["blessing"]
    infra_blessing = infra_validator.outputs["blessing"]
    both_blessed = ph.logical_and(
        model_blessing.future()[0].custom_property("blessed") == 1,
        infra_blessing.future()[0].custom_property("blessed") == 1,
    )
    with Cond(both_blessed):
        pusher = Pusher(
            model=model,
            model_blessing=model_blessing,
            infra_blessing=infra_blessing,
            push_destination=pusher_pb2.PushDestination(
                filesystem=pusher_pb2.PushDestination.Filesystem(
                    base_directory=config.locations().serving_dir
                )
            ),
        )

    return Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.locations().pipeline_root,
        components=[
            example_gen,
            *validation,
            *([span_range] if span_range else []),
            *([transform_cache] if transform_cache else []),
            transform,
            tuner,
            trainer,
            baseline,
            evaluator,
            infra_validator,
            pusher,
        ],
        enable_cache=True,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(config.beam_args),
    )
