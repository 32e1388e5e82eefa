"""The fixes the Kubeflow entrypoint makes to what open-source KFP v2 hands TFX."""

import json

import pytest

from pipeline.kubeflow import entrypoint

DECLARED = {"inputs": {"examples": "tfx.Examples"}, "outputs": {"blessing": "tfx.ModelBlessing"}}


def _artifact(artifact_type=None, metadata=None, uri="minio://mlpipeline/p/run/Task/x"):
    artifact = {"name": "artifacts/1", "uri": uri, "metadata": metadata or {}}
    if artifact_type is not None:
        artifact["type"] = artifact_type
    return artifact


@pytest.mark.parametrize(
    ("artifact", "declared", "expected"),
    [
        (_artifact({"schemaTitle": "tfx.Schema"}), "tfx.Examples", "tfx.Schema"),
        (_artifact({"instanceSchema": "title: tfx.Model\ntype: object\n"}), None, "tfx.Model"),
        (_artifact({"schemaTitle": "system.Artifact"}), "tfx.TransformGraph", "tfx.TransformGraph"),
        (_artifact({"schemaTitle": "system.Model"}), None, "tfx.Model"),  # fix 1
        (_artifact({}), "tfx.Examples", "tfx.Examples"),  # fix 2: no instance schema
        (_artifact(None), "tfx.Examples", "tfx.Examples"),  # fix 2: no type at all
        (
            _artifact(
                {"schemaTitle": "system.Artifact"},
                {"span": 3.0, "split_names": "[]", "version": 0.0},
            ),
            None,
            "tfx.Examples",
        ),  # fix 3
        (_artifact({}, {"blessed": 1.0, "current_model": "m"}), None, "tfx.ModelBlessing"),
    ],
)
def test_artifact_title(artifact, declared, expected):
    assert entrypoint.artifact_title(artifact, declared, "key") == expected


def test_an_untypeable_artifact_is_named():
    with pytest.raises(entrypoint.UnknownArtifactType, match="'mystery'"):
        entrypoint.artifact_title(_artifact({"schemaTitle": "system.Artifact"}), None, "mystery")


def test_repair_types_every_artifact_and_mirrors_minio_uris(tmp_path):
    executor_input = {
        "inputs": {
            "parameters": {"num": {"intValue": "3"}, "name": {"stringValue": "x"}},
            "artifacts": {
                "examples": {"artifacts": [_artifact({"schemaTitle": "system.Artifact"})]}
            },
        },
        "outputs": {
            "artifacts": {"blessing": {"artifacts": [_artifact({}, uri="gs://b/p/blessing")]}},
            "outputFile": str(tmp_path / "out.json"),
        },
    }
    repaired, to_uri = entrypoint.repair_executor_input(executor_input, DECLARED, str(tmp_path))

    (examples,) = repaired["inputs"]["artifacts"]["examples"]["artifacts"]
    assert examples["type"] == {"schemaTitle": "tfx.Examples"}
    local = str(tmp_path / "minio" / "mlpipeline/p/run/Task/x")
    assert examples["uri"] == local and to_uri == {local: "minio://mlpipeline/p/run/Task/x"}
    (blessing,) = repaired["outputs"]["artifacts"]["blessing"]["artifacts"]
    assert blessing["type"] == {"schemaTitle": "tfx.ModelBlessing"}
    assert blessing["uri"] == "gs://b/p/blessing"  # TensorFlow opens gs:// itself
    # fix 4: the deprecated `parameters` are carried into `parameterValues`
    assert repaired["inputs"]["parameterValues"] == {"num": "3", "name": "x"}
    assert executor_input["inputs"]["artifacts"]["examples"]["artifacts"][0]["uri"].startswith(
        "minio://"
    )  # the caller's copy is untouched


def test_inputs_spec_gets_parameter_types_tfx_reads():
    typed = entrypoint.typed_inputs_spec(
        {"parameters": {"n": {"type": "INT"}, "s": {"type": "STRING"}}, "artifacts": {}}
    )
    assert typed["parameters"] == {
        "n": {"parameterType": "NUMBER_INTEGER"},
        "s": {"parameterType": "STRING"},
    }


def test_executor_output_names_artifacts_by_uri_again(tmp_path):
    output = tmp_path / "executor_output.json"
    output.write_text(json.dumps({"artifacts": {"m": {"artifacts": [{"uri": "/l/minio/b/m"}]}}}))
    entrypoint.restore_uris(str(output), {"/l/minio/b/m": "minio://b/m"})
    assert json.loads(output.read_text())["artifacts"]["m"]["artifacts"][0]["uri"] == "minio://b/m"


def test_usage_without_a_mode(capsys):
    with pytest.raises(SystemExit, match="usage"):
        entrypoint.main([])


def test_custom_types_map_to_importable_classes():
    from tfx.utils import import_utils

    for title, class_path in entrypoint.CUSTOM_TYPES.items():
        assert title == import_utils.import_class_by_path(class_path).TYPE_NAME


def test_an_absent_baseline_is_left_out_and_inputs_keep_their_remote_uri():
    executor_input = {
        "inputs": {
            "artifacts": {
                "baseline_model": {
                    "artifacts": [
                        {
                            "uri": "minio://b/x",
                            "type": {"schemaTitle": "tfx.Model"},
                            "metadata": {"absent": 1.0},
                        }
                    ]
                },
                "model": {
                    "artifacts": [
                        {"uri": "minio://b/m", "type": {"schemaTitle": "tfx.Model"}, "metadata": {}}
                    ]
                },
            }
        },
        "outputs": {"artifacts": {}, "outputFile": "/tmp/out.json"},
    }
    repaired, _ = entrypoint.repair_executor_input(executor_input, {}, mount_root="/mnt")
    artifacts = repaired["inputs"]["artifacts"]
    assert set(artifacts) == {"model"}
    (model,) = artifacts["model"]["artifacts"]
    assert model["uri"] == "/mnt/minio/b/m"
    assert model["metadata"]["remote_uri"] == "minio://b/m"


def test_example_gen_output_gets_the_span_its_driver_task_resolved(tmp_path):
    output = tmp_path / "executor_output.json"
    artifact = {"uri": "/mnt/minio/b/e", "metadata": {"split_names": "[]"}}
    output.write_text(json.dumps({"artifacts": {"examples": {"artifacts": [artifact]}}}))
    resolved = {"span": 3.0, "input_fingerprint": "split:all,num_files:1"}
    entrypoint.restore_uris(str(output), {"/mnt/minio/b/e": "minio://b/e"}, resolved)
    (written,) = json.loads(output.read_text())["artifacts"]["examples"]["artifacts"]
    assert written["uri"] == "minio://b/e"
    assert written["metadata"] == {"split_names": "[]", **resolved}
