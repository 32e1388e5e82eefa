"""The compiled Kubeflow spec itself: tasks, dependencies, images, commands, the condition."""

import importlib
import importlib.util
import json

import pytest
from click.testing import CliRunner
from kfp.client import client as kfp_client

from pipeline.cli import main
from pipeline.config import PipelineConfig, SpanSelection
from pipeline.kubeflow import compile as kfp_compile
from tests.pipeline_components import COMPONENTS

IMAGE = "registry.example/penguins:test"
SETTINGS = kfp_compile.KubeflowSettings(image=IMAGE, pipeline_root="minio://mlpipeline/penguins")


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("kfp") / "pipeline.yaml"
    kfp_compile.write(kfp_compile.compile_spec(PipelineConfig(), SETTINGS), path)
    return path


@pytest.fixture(scope="module")
def spec(spec_path):
    return kfp_compile.load(spec_path)[0]


def _containers(spec):
    return {
        label: executor["container"]
        for label, executor in spec["deploymentSpec"]["executors"].items()
        if "container" in executor
    }


def test_every_local_component_is_a_task(spec):
    tasks = set(spec["root"]["dag"]["tasks"])
    assert tasks >= COMPONENTS
    # The two baselines are tasks of ours that query KFP's ML Metadata, and ExampleGen's
    # driver is a task of its own.
    assert tasks - COMPONENTS == {"LatestBlessedModel", "DriftBaseline", "CsvExampleGen-span"}


def test_the_spec_is_what_the_kfp_backend_accepts(spec):
    # backend/src/apiserver/template/v2_template.go refuses any other schema version.
    assert spec["schemaVersion"] == "2.1.0"
    executors = spec["deploymentSpec"]["executors"].values()
    # KFP's v2 compiler refuses resolver executors; Vertex-only lifecycle hooks never run.
    assert all(set(e) == {"container"} for e in executors)
    assert not any("lifecycle" in e["container"] for e in executors)
    for name, component in spec["components"].items():
        for side in ("inputDefinitions", "outputDefinitions"):
            for key, parameter in component.get(side, {}).get("parameters", {}).items():
                assert parameter.get("parameterType"), (name, side, key)
    for name, task in spec["root"]["dag"]["tasks"].items():
        for key, value in task.get("inputs", {}).get("parameters", {}).items():
            assert "constant" in value.get("runtimeValue", {}) or "taskOutputParameter" in value
            assert "constantValue" not in value.get("runtimeValue", {}), (name, key)


def test_example_gen_reads_the_span_its_uncached_driver_task_resolved(spec):
    tasks = spec["root"]["dag"]["tasks"]
    driver, example_gen = tasks["CsvExampleGen-span"], tasks["CsvExampleGen"]
    assert not driver["cachingOptions"].get("enableCache")
    assert example_gen["cachingOptions"]["enableCache"]
    for key in ("input_config", "input_fingerprint", "span"):
        source = example_gen["inputs"]["parameters"][key]["taskOutputParameter"]
        assert source == {"producerTask": "CsvExampleGen-span", "outputParameterKey": key}
    declared = spec["components"]["CsvExampleGen"]["inputDefinitions"]["parameters"]
    assert declared["input_fingerprint"] == {"parameterType": "STRING"}
    assert "input_fingerprint" not in (
        spec["components"]["CsvExampleGen-span"]["inputDefinitions"]["parameters"]
    )


def test_dependencies_keep_the_gates_in_front(spec):
    tasks = spec["root"]["dag"]["tasks"]
    assert "DataGate" in tasks["Transform"]["dependentTasks"]
    assert {"Evaluator", "InfraValidator", "Trainer"} <= set(tasks["Pusher"]["dependentTasks"])
    evaluator_inputs = tasks["Evaluator"]["inputs"]["artifacts"]
    baseline = evaluator_inputs["baseline_model"]["taskOutputArtifact"]
    assert baseline == {"producerTask": "LatestBlessedModel", "outputArtifactKey": "model"}
    drift_inputs = tasks["DriftValidator"]["inputs"]["artifacts"]
    drift = drift_inputs["baseline_statistics"]["taskOutputArtifact"]
    assert drift == {"producerTask": "DriftBaseline", "outputArtifactKey": "statistics"}


def test_every_task_runs_the_image_through_the_fixing_entrypoint(spec):
    containers = _containers(spec)
    assert len(containers) == len(COMPONENTS) + 3  # the two baseline tasks, the driver
    for label, container in containers.items():
        assert container["image"] == IMAGE, label
        mode = "resolve" if label == "CsvExampleGen-span_executor" else "executor"
        assert container["command"] == ["python", "-m", kfp_compile.ENTRYPOINT_MODULE, mode]
        declared = json.loads(container["args"][container["args"].index("--artifact_types") + 1])
        titles = [t for side in declared.values() for t in side.values()]
        assert all(t.startswith(("tfx.", "penguins.")) for t in titles), titles


def test_every_executor_class_and_module_the_spec_names_imports(spec):
    for label, container in _containers(spec).items():
        args = container["args"]
        if "--executor_class_path" in args:
            module, _, name = args[args.index("--executor_class_path") + 1].rpartition(".")
            assert hasattr(importlib.import_module(module), name), label
        command = container["command"]
        assert importlib.util.find_spec(command[command.index("-m") + 1]), command


def test_pusher_runs_only_with_both_blessings_read_from_its_own_inputs(spec):
    pusher = spec["root"]["dag"]["tasks"]["Pusher"]
    condition = pusher["triggerPolicy"]["condition"]
    assert condition == (
        "((inputs.artifacts['model_blessing'].artifacts[0].metadata['blessed'] == 1.0) && "
        "(inputs.artifacts['infra_blessing'].artifacts[0].metadata['blessed'] == 1.0))"
    )
    declared = spec["components"]["Pusher"]["inputDefinitions"]["artifacts"]
    assert {"model_blessing", "infra_blessing"} <= declared.keys()


def test_locations_are_the_images_and_the_pipeline_roots(spec):
    tasks = spec["root"]["dag"]["tasks"]
    example_gen = tasks["CsvExampleGen"]["inputs"]["parameters"]
    assert example_gen["input_base"]["runtimeValue"]["constant"] == kfp_compile.IMAGE_DATA_ROOT
    push = tasks["Pusher"]["inputs"]["parameters"]["push_destination"]
    assert "/mnt/serving/penguins" in push["runtimeValue"]["constant"]
    assert "/work/" not in json.dumps(spec) and "/tmp/" not in json.dumps(spec)


def test_heavy_tasks_request_resources_and_the_pusher_mounts_the_serving_volume(spec_path, spec):
    executors = spec["deploymentSpec"]["executors"]
    for task in ("Transform", "Trainer"):
        resources = executors[f"{task}_executor"]["container"]["resources"]
        assert resources["cpuRequest"] == 2.0 and resources["memoryRequest"] > 4.0
    platform = kfp_compile.load(spec_path)[1]["platforms"]["kubernetes"]
    mounts = platform["deploymentSpec"]["executors"]["Pusher_executor"]["pvcMount"]
    assert mounts == [{"constant": "penguins-serving", "mountPath": "/mnt/serving"}]


def test_the_kfp_client_accepts_the_file(spec_path):
    doc = kfp_client._extract_pipeline_yaml(str(spec_path))
    assert doc.pipeline_spec.pipeline_info.name == "penguins"
    assert "kubernetes" in doc.platform_spec.platforms


def test_span_ranges_are_refused_for_kubeflow():
    config = PipelineConfig(spans=SpanSelection.parse("1-3"))
    with pytest.raises(ValueError, match="runs locally only"):
        kfp_compile.compile_spec(config, SETTINGS)


def test_cli_compiles_to_the_given_file(tmp_path):
    out = tmp_path / "spec.yaml"
    result = CliRunner().invoke(
        main,
        ["kubeflow", "compile", "--image", IMAGE, "--pipeline-root", "gs://b/p", "--output", out],
    )
    assert result.exit_code == 0, result.output
    assert "16 tasks" in result.output
    assert kfp_compile.load(out)[0]["defaultPipelineRoot"] == "gs://b/p"


def test_cli_deploy_to_an_unreachable_host_is_one_line(tmp_path, spec_path):
    result = CliRunner().invoke(
        main, ["kubeflow", "deploy", "--host", "http://127.0.0.1:9", "--spec", spec_path]
    )
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "127.0.0.1:9" in result.output and "Traceback" not in result.output


def test_cli_compiles_one_document_for_vertex(tmp_path):
    out = tmp_path / "vertex.yaml"
    args = ["kubeflow", "compile", "--image", IMAGE, "--pipeline-root", "gs://b/p"]
    result = CliRunner().invoke(main, [*args, "--target", "vertex", "--output", out])
    assert result.exit_code == 0, result.output
    assert len(kfp_compile.load(out)) == 1
