"""The infra validation logic against real SavedModels served by the real model server."""

import ast
import sys

import tensorflow as tf

from components.infra_validator import validation


class _Softmax(tf.Module):
    """A stand-in model with the project's two serving signatures."""

    def __init__(self, raw_scale: float = 1.0):
        super().__init__()
        self.weights = tf.Variable([0.1, 0.2, 0.3])
        self.raw_scale = raw_scale

    def _predict(self, mass):
        logits = mass[:, tf.newaxis] * self.weights / 1000.0
        return {"probabilities": tf.nn.softmax(logits), "class_ids": tf.argmax(logits, axis=1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(self, serialized):
        parsed = tf.io.parse_example(
            serialized, {"body_mass_g": tf.io.FixedLenFeature([], tf.float32)}
        )
        return self._predict(parsed["body_mass_g"])

    @tf.function(
        input_signature=[{"body_mass_g": tf.TensorSpec([None], tf.float32, name="body_mass_g")}]
    )
    def serve_raw(self, values):
        return self._predict(values["body_mass_g"] * self.raw_scale)


def _save(module, path):
    tf.saved_model.save(
        module,
        str(path),
        signatures={"serving_default": module.serve_examples, "serving_raw": module.serve_raw},
    )
    return str(path)


def _examples(*masses):
    return [
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    "body_mass_g": tf.train.Feature(float_list=tf.train.FloatList(value=[m])),
                    "species": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"Adelie"])),
                }
            )
        ).SerializeToString()
        for m in masses
    ]


def test_a_servable_model_is_blessed_with_load_time_and_latency(tmp_path):
    model_dir = _save(_Softmax(), tmp_path / "model")
    report = validation.validate_model(model_dir, _examples(3000, 4500), latency_requests=5)
    assert report.blessed, report.reason
    assert report.load_seconds > 0
    assert 0 < report.latency_p50_ms <= report.latency_p95_ms
    assert any("serving_raw agrees" in check for check in report.checks)


def test_signatures_that_disagree_are_not_blessed(tmp_path):
    model_dir = _save(_Softmax(raw_scale=2.0), tmp_path / "model")
    report = validation.validate_model(model_dir, _examples(3000, 4500), latency_requests=1)
    assert not report.blessed
    assert "serving_raw disagrees with serving_default" in report.reason


def test_a_model_that_will_not_load_is_not_blessed_and_says_why(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"not a protobuf")
    report = validation.validate_model(str(broken), _examples(3000), load_timeout=120)
    assert not report.blessed
    assert "model server exited" in report.reason


def test_strip_feature_removes_the_label_only():
    (stripped,) = [validation.strip_feature(e, "species") for e in _examples(3000)]
    keys = set(tf.train.Example.FromString(stripped).features.feature)
    assert keys == {"body_mass_g"}


def test_model_server_imports_nothing_but_the_standard_library_and_tensorflow():
    tree = ast.parse(validation.MODEL_SERVER_SCRIPT.read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module.split(".")[0])
    assert modules - set(sys.stdlib_module_names) == {"tensorflow"}
