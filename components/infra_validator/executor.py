"""InfraValidator executor: reads the model and a few examples, runs `validate_model`."""

from __future__ import annotations

import os
from typing import Any

import tensorflow as tf
from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from components.infra_validator import validation

BLESSED_FILE_NAME = "INFRA_BLESSED"
NOT_BLESSED_FILE_NAME = "INFRA_NOT_BLESSED"
REPORT_FILE_NAME = "infra_validation.json"


def read_examples(examples: types.Artifact, split: str, limit: int) -> list[bytes]:
    """Up to `limit` serialized tf.Examples from one split of an Examples artifact."""
    pattern = os.path.join(artifact_utils.get_split_uri([examples], split), "*")
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise ValueError(f"no example files match {pattern}")
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").take(limit)
    return [record.numpy() for record in dataset]


class Executor(base_executor.BaseExecutor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        model = artifact_utils.get_single_instance(input_dict["model"])
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        blessing = artifact_utils.get_single_instance(output_dict["blessing"])

        requests = [
            validation.strip_feature(e, exec_properties.get("label_key"))
            for e in read_examples(
                examples, exec_properties["split"], exec_properties["num_examples"]
            )
        ]
        report = validation.validate_model(
            path_utils.serving_model_path(model.uri),
            requests,
            model_name=exec_properties["model_name"],
            latency_requests=exec_properties["latency_requests"],
            load_timeout=exec_properties["load_timeout_seconds"],
        )

        io_utils.write_string_file(os.path.join(blessing.uri, REPORT_FILE_NAME), report.to_json())
        marker = BLESSED_FILE_NAME if report.blessed else NOT_BLESSED_FILE_NAME
        io_utils.write_string_file(os.path.join(blessing.uri, marker), "")
        blessing.set_int_custom_property("blessed", int(report.blessed))
        blessing.set_string_custom_property("reason", report.reason)
        blessing.set_int_custom_property("requests", report.requests)
        for key in ("load_seconds", "latency_p50_ms", "latency_p95_ms"):
            value = getattr(report, key)
            if value is not None:
                blessing.set_float_custom_property(key, round(value, 3))
        log = logging.info if report.blessed else logging.warning
        log("Infra validation of %s: %s", model.uri, report.reason)
