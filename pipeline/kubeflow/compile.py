"""Compiles `create_pipeline` into a KFP v2 pipeline spec (open-source KFP and Vertex AI).

KubeflowV2DagRunner writes the spec, in KFP's schema 2.1.0 (the only one KFP's API server
accepts), without the pipeline root (added as `defaultPipelineRoot`, which `deploy` sends
with each run: open-source KFP's driver never reads it from the spec); repairs follow,
each for a gap:
- every task runs `pipeline.kubeflow.entrypoint` (TFX's executor entrypoint with the
  fixes open-source KFP v2 needs) instead of TFX's module;
- each task is told its declared artifact types, which the KFP driver does not always
  pass on (`--artifact_types`);
- ExampleGen's driver, a `preCacheCheck` hook that only Vertex AI runs, becomes a task of
  its own whose outputs are ExampleGen's inputs (see `_driver_tasks`);
- the Pusher's trigger condition names its inputs by producer (`_Evaluator.blessing`),
  which the task does not declare: it is rewritten to the task's own input keys;
- Transform and Trainer get resource requests, and the Pusher mounts the serving volume
  (a second YAML document: the Kubernetes platform spec KFP reads beside the pipeline).
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
from pathlib import Path

import yaml

from pipeline.config import PROJECT_ROOT, Locations, PipelineConfig
from pipeline.kubeflow import entrypoint

DEFAULT_SPEC_PATH = PROJECT_ROOT / "kubeflow" / "pipeline.yaml"
ENTRYPOINT_MODULE = "pipeline.kubeflow.entrypoint"
TFX_EXECUTOR_MODULE = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
TFX_DRIVER_MODULE = "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"
# Inside the image (see the Dockerfile): the bundled data and the curated schema.
IMAGE_DATA_ROOT = "/app/data/penguins"
IMAGE_SCHEMA_FILE = "/app/schemas/penguins/schema.pbtxt"


@dataclasses.dataclass(frozen=True)
class KubeflowSettings:
    image: str
    pipeline_root: str
    data_root: str = IMAGE_DATA_ROOT
    schema_file: str = IMAGE_SCHEMA_FILE
    # The Pusher renames folders atomically, so it writes to a mounted volume.
    serving_pvc: str = "penguins-serving"
    serving_mount: str = "/mnt/serving"
    # Requests for the heavy tasks: (cpu, memory) in Kubernetes units.
    resources: tuple[tuple[str, str, str], ...] = (
        ("Transform", "2", "4Gi"),
        ("Tuner", "2", "4Gi"),
        ("Trainer", "2", "4Gi"),
    )

    def locations(self, model_name: str) -> Locations:
        return Locations(
            data_root=self.data_root,
            schema_file=self.schema_file,
            pipeline_root=self.pipeline_root,
            serving_dir=f"{self.serving_mount}/{model_name}",
        )


def compile_spec(config: PipelineConfig, settings: KubeflowSettings) -> list[dict]:
    """The pipeline spec and its Kubernetes platform spec, as two YAML documents."""
    # Not through `tfx.v1`, which also imports TFX's Google Cloud extensions (about 10 s).
    from tfx.orchestration.kubeflow.v2.kubeflow_v2_dag_runner import (
        KubeflowV2DagRunner,
        KubeflowV2DagRunnerConfig,
    )

    from pipeline.pipeline import create_pipeline

    remote = dataclasses.replace(config, remote=settings.locations(config.model_name))
    with tempfile.TemporaryDirectory() as tmp:
        KubeflowV2DagRunner(
            config=KubeflowV2DagRunnerConfig(
                default_image=settings.image, use_pipeline_spec_2_1=True
            ),
            output_dir=tmp,
            output_filename="pipeline.yaml",
        ).run(create_pipeline(remote, metadata_connection_config=None))
        spec = yaml.safe_load((Path(tmp) / "pipeline.yaml").read_text())

    # The root `deploy` sends with each run unless told another (Vertex reads it here).
    spec["defaultPipelineRoot"] = settings.pipeline_root
    _use_entrypoint(spec)
    _driver_tasks(spec)
    _fix_condition_keys(spec)
    _set_resources(spec, settings)
    return [spec, _platform_spec(settings)]


def write(documents: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Compiled by `penguins kubeflow compile` from pipeline/pipeline.py: do not edit.\n"
        "# Document 1: the KFP v2 pipeline spec. Document 2: its Kubernetes platform spec.\n"
    )
    body = yaml.safe_dump_all(documents, sort_keys=True, width=100)
    path.write_text(header + body)


def load(path: Path) -> list[dict]:
    return list(yaml.safe_load_all(path.read_text()))


def _executor_components(spec: dict) -> dict[str, dict]:
    """Executor label → component definition."""
    return {c["executorLabel"]: c for c in spec["components"].values() if "executorLabel" in c}


def _types(definitions: dict) -> dict[str, str]:
    result = {}
    for key, artifact in definitions.get("artifacts", {}).items():
        artifact_type = artifact.get("artifactType", {})
        title = artifact_type.get("schemaTitle")
        if not title:
            title = yaml.safe_load(artifact_type.get("instanceSchema", "{}") or "{}").get("title")
        result[key] = title
    return result


def _use_entrypoint(spec: dict) -> None:
    components = _executor_components(spec)
    for label, executor in spec["deploymentSpec"]["executors"].items():
        container = executor.get("container")
        if container is None:
            continue  # not a container (none in our specs: KFP runs no resolver)
        component = components[label]
        inputs, outputs = (
            component.get("inputDefinitions", {}),
            component.get("outputDefinitions", {}),
        )
        declared = json.dumps(
            {"inputs": _types(inputs), "outputs": _types(outputs)}, sort_keys=True
        )
        # TFX passes the inputs spec itself (`--json_serialized_inputs_spec_args`).
        extra = ["--artifact_types", declared]
        _replace_module(container, TFX_EXECUTOR_MODULE, ["executor"], extra)
        hook = container.get("lifecycle", {}).get("preCacheCheck")
        if hook:
            _replace_module(hook, TFX_DRIVER_MODULE, ["resolve"], extra)


def _driver_tasks(spec: dict) -> None:
    """Each `preCacheCheck` hook (ExampleGen's driver, which only Vertex AI runs) becomes a
    task of its own, never cached, whose outputs (span, fingerprint, resolved pattern) are
    the component's inputs: KFP's cache key then follows the data."""
    components = _executor_components(spec)
    executors = spec["deploymentSpec"]["executors"]
    tasks = spec["root"]["dag"]["tasks"]
    for label, executor in list(executors.items()):
        hook = executor.get("container", {}).pop("lifecycle", {}).get("preCacheCheck")
        if not hook:
            continue
        component = components[label]
        name = next(n for n, c in spec["components"].items() if c is component)
        # Not "-driver": KFP names each task's own driver step so.
        driver = f"{name}-span"
        executors[f"{driver}_executor"] = {
            "container": {"image": executor["container"]["image"], **hook}
        }
        outputs = entrypoint.RESOLVED_PARAMETERS
        spec["components"][driver] = {
            "executorLabel": f"{driver}_executor",
            "inputDefinitions": json.loads(json.dumps(component["inputDefinitions"])),
            "outputDefinitions": {
                "parameters": {k: {"parameterType": t} for k, t in outputs.items()}
            },
        }
        for task_name, task in list(tasks.items()):
            if task["componentRef"]["name"] != name:
                continue
            driver_task = f"{task_name}-span"
            tasks[driver_task] = {
                "componentRef": {"name": driver},
                "inputs": json.loads(json.dumps(task["inputs"])),
                "taskInfo": {"name": driver_task},
                "cachingOptions": {},  # it reads the files every time: that is its job
            }
            parameters = task["inputs"].setdefault("parameters", {})
            for key in outputs:
                parameters[key] = {
                    "taskOutputParameter": {
                        "producerTask": driver_task,
                        "outputParameterKey": key,
                    }
                }
            task.setdefault("dependentTasks", []).append(driver_task)
        component_parameters = component["inputDefinitions"].setdefault("parameters", {})
        for key, parameter_type in outputs.items():
            component_parameters.setdefault(key, {"parameterType": parameter_type})
        _declare_parameters(executor["container"], component["inputDefinitions"])


def _declare_parameters(container: dict, inputs: dict) -> None:
    """Updates the inputs spec passed to the executor after inputs were added."""
    args = container["args"]
    for i, arg in enumerate(args[:-1]):
        if arg == "--json_serialized_inputs_spec_args":
            args[i + 1] = json.dumps(inputs, sort_keys=True)


def _replace_module(container: dict, module: str, mode: list[str], extra: list[str]) -> None:
    command = container["command"]
    if command[-1] != module:
        raise ValueError(f"unexpected command in the compiled spec: {command}")
    container["command"] = [*command[:-1], ENTRYPOINT_MODULE, *mode]
    container["args"] = [*extra, *container["args"]]


_IMPLICIT_KEY = re.compile(r"inputs\.artifacts\['(_(?P<task>[^.']+)\.(?P<output>[^']+))'\]")


def _fix_condition_keys(spec: dict) -> None:
    for task in spec["root"]["dag"]["tasks"].values():
        condition = task.get("triggerPolicy", {}).get("condition")
        if condition:
            task["triggerPolicy"]["condition"] = _IMPLICIT_KEY.sub(
                lambda match, task=task: f"inputs.artifacts['{_input_key(task, match)}']",
                condition,
            )


def _input_key(task: dict, match: re.Match) -> str:
    """The task's own key for the input that `_<producer>.<output>` names."""
    for key, artifact in task.get("inputs", {}).get("artifacts", {}).items():
        source = artifact.get("taskOutputArtifact", {})
        if (source.get("producerTask"), source.get("outputArtifactKey")) == (
            match["task"],
            match["output"],
        ):
            return key
    raise ValueError(f"trigger condition reads an input the task does not declare: {match[1]}")


def _set_resources(spec: dict, settings: KubeflowSettings) -> None:
    executors = spec["deploymentSpec"]["executors"]
    for task, cpu, memory in settings.resources:
        container = executors[f"{task}_executor"]["container"]
        container["resources"] = {
            "cpuRequest": float(cpu),
            "cpuLimit": float(cpu),
            "memoryRequest": _gigabytes(memory),
            "memoryLimit": _gigabytes(memory),
        }


def _gigabytes(quantity: str) -> float:
    """KFP's spec takes memory in GB as a number."""
    number, unit = re.fullmatch(r"([\d.]+)(Gi|G|Mi|M)", quantity).groups()
    factor = {"Gi": 1.073741824, "G": 1.0, "Mi": 0.001048576, "M": 0.001}[unit]
    return round(float(number) * factor, 3)


def _platform_spec(settings: KubeflowSettings) -> dict:
    return {
        "platforms": {
            "kubernetes": {
                "deploymentSpec": {
                    "executors": {
                        "Pusher_executor": {
                            "pvcMount": [
                                {
                                    "constant": settings.serving_pvc,
                                    "mountPath": settings.serving_mount,
                                }
                            ]
                        }
                    }
                }
            }
        }
    }
