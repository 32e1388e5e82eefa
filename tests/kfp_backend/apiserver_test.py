"""The compiled spec against KFP 2.0.5's own API server code: upload, version, run.

What the API server does with a spec is KFP's (tests/kfp_backend/apiserver.py): it validates the
upload (schema version, name, platform spec), and on a new run compiles the spec with
KFP's v2 compiler into the Argo Workflow Argo would run. Stand-ins, from KFP's own test
client manager: the Kubernetes and Argo clients (the workflow is kept instead of being
created), KFP's SQL stores on in-memory SQLite instead of MySQL, and an in-memory store
for the uploaded files instead of MinIO.
"""

from __future__ import annotations

import json

import pytest
import yaml

from pipeline.config import PipelineConfig
from pipeline.kubeflow import compile as kfp_compile
from pipeline.kubeflow import deploy as kfp_deploy
from tests.kfp_backend import apiserver

pytestmark = pytest.mark.kfp
ROOT = "minio://mlpipeline/penguins"


@pytest.fixture(scope="module")
def documents():
    settings = kfp_compile.KubeflowSettings(image="penguins:test", pipeline_root=ROOT)
    return kfp_compile.compile_spec(PipelineConfig(), settings)


@pytest.fixture()
def server(tmp_path):
    with apiserver.running(tmp_path) as running:
        yield running


def _write(documents, path):
    kfp_compile.write(documents, path)
    return path


def test_kfp_accepts_the_spec_and_runs_it_with_the_pipeline_root(server, documents, tmp_path):
    spec = _write(documents, tmp_path / "pipeline.yaml")
    first = kfp_deploy.deploy(spec, host=server.host, pipeline_name="penguins")
    second = kfp_deploy.deploy(spec, host=server.host, pipeline_name="penguins")
    assert first.created_pipeline and not second.created_pipeline
    assert second.pipeline_id == first.pipeline_id and second.run_id != first.run_id

    workflows = server.workflows()
    assert len(workflows) == 2
    workflow = next(iter(workflows.values()))
    # Open-source KFP's driver reads the root from the run, never from the spec.
    assert apiserver.runtime_config(workflow)["gcsOutputDirectory"] == ROOT
    # KFP's compiler made a driver step for every task of the spec.
    root_dag = next(t for t in workflow["spec"]["templates"] if t["name"] == "root")
    steps = {task["name"] for task in root_dag["dag"]["tasks"]}
    for task in documents[0]["root"]["dag"]["tasks"]:
        assert f"{task}-driver" in steps, task
    # The Pusher's serving volume, from the platform spec.
    assert "penguins-serving" in json.dumps(workflow)


def test_deploy_sends_another_root_when_asked(server, documents, tmp_path):
    spec = _write(documents, tmp_path / "pipeline.yaml")
    kfp_deploy.deploy(
        spec, host=server.host, pipeline_name="penguins", pipeline_root="s3://other/root"
    )
    (workflow,) = server.workflows().values()
    assert apiserver.runtime_config(workflow)["gcsOutputDirectory"] == "s3://other/root"


def test_kfp_refuses_schema_2_0_0_and_deploy_says_so_in_one_line(server, documents, tmp_path):
    old = [{**documents[0], "schemaVersion": "2.0.0"}, documents[1]]
    spec = _write(old, tmp_path / "old.yaml")
    with pytest.raises(kfp_deploy.DeployError) as refused:
        kfp_deploy.deploy(spec, host=server.host, pipeline_name="penguins")
    message = str(refused.value)
    assert "schema version 2.1.0" in message and "\n" not in message
    assert server.workflows() == {}


def test_kfp_refuses_to_run_a_resolver_task(server, documents, tmp_path):
    # What TFX compiles for a stock resolver (here in place of our baseline task).
    spec = yaml.safe_load(yaml.safe_dump(documents[0]))
    spec["deploymentSpec"]["executors"]["LatestBlessedModel_executor"] = {
        "resolver": {
            "outputArtifactQueries": {
                "model": {"filter": 'schema_title="tfx.Model" AND state=LIVE'}
            }
        }
    }
    path = _write([spec, documents[1]], tmp_path / "resolver.yaml")
    with pytest.raises(kfp_deploy.DeployError) as refused:
        kfp_deploy.deploy(path, host=server.host, pipeline_name="penguins")
    message = str(refused.value)
    assert "LatestBlessedModel_executor" in message and "non-container" in message
    assert "\n" not in message
    assert server.workflows() == {}
