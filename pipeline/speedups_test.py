"""The speed-ups still apply to the pinned libraries and keep their answers."""

import gc

import apache_beam as beam
import tensorflow as tf
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import userstate
from apache_beam.transforms.userstate import BagStateSpec
from tensorflow.python.autograph.impl import conversion

from pipeline import speedups


class _Stateless(beam.DoFn):
    def process(self, element):
        yield element


class _Stateful(beam.DoFn):
    SEEN = BagStateSpec("seen", beam.coders.VarIntCoder())

    # Beam's own idiom for declaring state: the default is read, never called.
    def process(self, element, seen=beam.DoFn.StateParam(SEEN)):  # noqa: B008
        seen.add(element[1])
        yield element


def test_dofn_specs_are_the_library_answers_kept_per_object():
    original = userstate.get_dofn_specs
    remembered = speedups.remembered_per_object(original)
    stateless, stateful = _Stateless(), _Stateful()

    assert remembered(stateless) == original(stateless) == (set(), set())
    assert remembered(stateful) == original(stateful)
    assert {spec.name for spec in remembered(stateful)[0]} == {"seen"}
    assert remembered(stateful) is remembered(stateful)  # computed once

    del stateful
    gc.collect()
    assert len(remembered.answers) == 1  # forgotten with its object


def test_a_pipeline_with_side_inputs_and_state_gives_the_same_result_after_apply():
    speedups.apply()
    speedups.apply()  # a second call changes nothing
    with beam.Pipeline() as p:
        keys = p | "keys" >> beam.Create(["a", "b"])
        pairs = (
            p
            | "pairs" >> beam.Create([("a", 1), ("b", 2), ("c", 3)])
            | beam.Filter(lambda kv, known: kv[0] in known, known=beam.pvalue.AsList(keys))
            | beam.ParDo(_Stateful())
        )
        assert_that(pairs, equal_to([("a", 1), ("b", 2)]))


def test_tf_keras_is_traced_as_is_like_keras():
    speedups.apply()
    metric = tf.keras.metrics.SparseCategoricalAccuracy()
    assert type(metric).__module__.startswith("tf_keras")
    assert conversion.is_allowlisted(metric.update_state)

    @tf.function
    def update(labels, probabilities):
        metric.update_state(labels, probabilities)
        return metric.result()

    accuracy = update(tf.constant([[0], [1]]), tf.constant([[0.9, 0.1], [0.8, 0.2]]))
    assert float(accuracy) == 0.5
