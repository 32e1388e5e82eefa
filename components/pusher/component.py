"""The stock Pusher component (same spec, same PushedModel output) with our executor."""

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from components.pusher import executor


class Pusher(tfx.components.Pusher):
    """Pushes only a model with both blessings, atomically and at most once."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
