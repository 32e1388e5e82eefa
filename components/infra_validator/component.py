"""InfraValidator component: same `InfraBlessing` output as the stock one, no Docker."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.infra_validator import executor


class InfraValidatorSpec(types.ComponentSpec):
    PARAMETERS = {
        "model_name": ExecutionParameter(type=str),
        "split": ExecutionParameter(type=str),
        "num_examples": ExecutionParameter(type=int),
        "latency_requests": ExecutionParameter(type=int),
        "load_timeout_seconds": ExecutionParameter(type=int),
        "label_key": ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        "examples": ChannelParameter(type=standard_artifacts.Examples),
    }
    OUTPUTS = {
        "blessing": ChannelParameter(type=standard_artifacts.InfraBlessing),
    }


class InfraValidator(base_component.BaseComponent):
    """Loads the SavedModel in a separate model-server process on 127.0.0.1, sends it
    requests built from `examples`, checks the answers, and blesses it or says why not."""

    SPEC_CLASS = InfraValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        examples: types.BaseChannel,
        *,
        model_name: str,
        split: str = "eval",
        num_examples: int = 16,
        latency_requests: int = 20,
        load_timeout_seconds: int = 120,
        label_key: str | None = None,
    ):
        super().__init__(
            InfraValidatorSpec(
                model=model,
                examples=examples,
                blessing=types.Channel(type=standard_artifacts.InfraBlessing),
                model_name=model_name,
                split=split,
                num_examples=num_examples,
                latency_requests=latency_requests,
                load_timeout_seconds=load_timeout_seconds,
                label_key=label_key,
            )
        )
