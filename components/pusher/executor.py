"""Pusher executor: pushes only a model blessed by both Evaluator and InfraValidator,
atomically and at most once (see `pushing`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from absl import logging
from tfx import types
from tfx.components.pusher import executor as stock_pusher
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.pusher import pushing


class Executor(stock_pusher.Executor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        pushed_model = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY]
        )
        for key in (
            standard_component_specs.MODEL_BLESSING_KEY,
            standard_component_specs.INFRA_BLESSING_KEY,
        ):
            if not input_dict.get(key):
                raise ValueError(f"Pusher needs a {key} input: it pushes only validated models")
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(pushed_model)
            pushed_model.set_string_custom_property("reason", "model is not blessed")
            return

        destination = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
            pusher_pb2.PushDestination(),
        )
        serving_root = Path(destination.filesystem.base_directory)
        result = pushing.push(Path(self.GetModelPath(input_dict)), serving_root)
        pushed_model.set_string_custom_property("model_fingerprint", result.fingerprint)
        pushed_model.set_string_custom_property("reason", result.reason)
        # Where this model is served, whether this execution pushed it or an earlier one.
        pushed_model.set_string_custom_property("serving_path", str(result.path))
        pushed_model.set_int_custom_property("serving_version", result.version)
        if result.pushed:
            self._MarkPushed(pushed_model, str(result.path), str(result.version))
            logging.info("Model pushed to %s", result.path)
        else:
            self._MarkNotPushed(pushed_model)
            logging.info("Model not pushed: %s (%s)", result.reason, result.path)
