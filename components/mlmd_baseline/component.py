"""Two tasks that find a gate's baseline in ML Metadata, for Kubeflow.

KFP's backend runs no TFX resolver (its compiler refuses `resolver` executors), so on
Kubeflow these tasks stand where the local resolvers stand: each queries KFP's ML Metadata
(at the address KFP gives its pods) and hands the artifact it finds on as its output, an
artifact record pointing at the same files. When there is none (the first run), the
output is marked `absent` and the Kubeflow entrypoint gives the next task no baseline.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter

from components.mlmd_baseline import executor


class _BlessedModelSpec(types.ComponentSpec):
    PARAMETERS = {}
    INPUTS = {"candidate": ChannelParameter(type=standard_artifacts.Model)}
    OUTPUTS = {"model": ChannelParameter(type=standard_artifacts.Model)}


class _DriftStatisticsSpec(types.ComponentSpec):
    PARAMETERS = {}
    INPUTS = {"examples": ChannelParameter(type=standard_artifacts.Examples)}
    OUTPUTS = {"statistics": ChannelParameter(type=standard_artifacts.ExampleStatistics)}


class LatestBlessedModel(base_component.BaseComponent):
    """The Evaluator's baseline: the newest blessed model other than `candidate`."""

    SPEC_CLASS = _BlessedModelSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.BlessedModelExecutor)

    def __init__(self, candidate: types.BaseChannel):
        super().__init__(
            _BlessedModelSpec(
                candidate=candidate,
                model=types.Channel(type=standard_artifacts.Model),
            )
        )


class DriftBaselineStatistics(base_component.BaseComponent):
    """The drift check's baseline: statistics of the data the served model was trained
    on, else of the span before `examples`' span."""

    SPEC_CLASS = _DriftStatisticsSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.DriftStatisticsExecutor)

    def __init__(self, examples: types.BaseChannel):
        super().__init__(
            _DriftStatisticsSpec(
                examples=examples,
                statistics=types.Channel(type=standard_artifacts.ExampleStatistics),
            )
        )
