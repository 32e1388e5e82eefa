"""Fixes for library overheads that dominate a small pipeline, applied (`apply`) by the
local runner before it runs anything and by each Kubeflow task before its executor. Each
leaves every result the same; on the penguin data they save about 8 s of a first run.

- Beam's in-memory runner weighs each side input it caches with objsize, which first
  walks the globals of every loaded module (thousands, with TensorFlow) on every call:
  about 2 s per Transform. The runner keeps side inputs in memory anyway; its worker's
  cache is turned off, so they are read from there.
- Beam inspects the signature of every method of a DoFn each time it checks the DoFn
  for state and timers, and a bundle processor asks that many times of the same DoFn:
  about 4 s per Transform. The answer is kept per DoFn object while it lives.
- AutoGraph converts the code of `tf_keras` (the Keras 2 that TF_USE_LEGACY_KERAS
  selects), while it has always left `keras`, the same code under its old name, alone:
  TFMA's Keras metrics cost about 2 s per Evaluator to convert. The same rule is added.

All three reach into library internals, at the versions the lock pins (apache-beam
2.74, tensorflow 2.16); `speedups_test.py` checks that each still applies and keeps its
library's answers.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable

_applied = False


def apply() -> None:
    """Applies the three fixes to this process (once; later calls do nothing)."""
    global _applied
    if _applied:
        return
    from apache_beam.runners.portability.fn_api_runner import worker_handlers
    from apache_beam.transforms import userstate
    from tensorflow.python.autograph.core import config as autograph_config

    worker_handlers.STATE_CACHE_SIZE_MB = 0
    userstate.get_dofn_specs = remembered_per_object(userstate.get_dofn_specs)
    autograph_config.CONVERSION_RULES = (
        autograph_config.DoNotConvert("tf_keras"),
        *autograph_config.CONVERSION_RULES,
    )
    _applied = True


def remembered_per_object(function: Callable) -> Callable:
    """`function(obj)`, computed once per live object (by identity, not equality)."""
    answers: dict[int, tuple[weakref.ref, object]] = {}

    @functools.wraps(function)
    def remembered(obj):
        key = id(obj)
        known = answers.get(key)
        if known is not None and known[0]() is obj:
            return known[1]
        answer = function(obj)
        try:
            ref = weakref.ref(obj, lambda _, key=key: answers.pop(key, None))
        except TypeError:  # not weakly referenceable: nothing to key it by safely
            return answer
        answers[key] = (ref, answer)
        return answer

    remembered.answers = answers
    return remembered
