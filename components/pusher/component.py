"""The stock Pusher component (same spec, same PushedModel output) with our executor."""

from tfx.components import Pusher as StockPusher
from tfx.dsl.components.base import executor_spec

from components.pusher import executor


class Pusher(StockPusher):
    """Pushes only a model with both blessings, atomically and at most once."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
