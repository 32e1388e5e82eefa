"""A local KFP v2 conformance runner: executes a compiled pipeline spec the way KFP's
driver and launcher would, without a cluster. For tests and `make kfp-check`, not users.

What it emulates, and why it is strict where KFP is:
- tasks run in dependency order as subprocesses, each with the command and arguments of
  its executor, `{{$}}` replaced by an ExecutorInput built as open-source KFP v2 builds it:
  parameters in `parameterValues` only (numbers as floats), input artifacts typed
  `system.*` (KFP types artifacts by its own schema titles), output artifacts with a type
  that has no instance schema, remote URIs under the pipeline root;
- ExampleGen's preCacheCheck driver runs first, and its output parameters reach the executor;
- the launcher mirrors `minio://` URIs on local disk (under `KFP_LAUNCHER_MOUNT_ROOT`);
- a trigger condition is evaluated against the task's declared inputs only: a condition
  naming an input the task does not declare fails the run, as it does on KFP;
- resolver tasks answer their artifact queries from the artifacts recorded so far;
- the Kubernetes platform spec's volume mounts must name existing local folders.

    python tests/kfp_conformance.py --workdir outputs/kfp-check

compiles the pipeline for this machine (data, schema and serving volume as local paths,
pipeline root `minio://mlpipeline/penguins`), runs every task, then loads the pushed model
and predicts. Exits non-zero when a task fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.kubeflow import compile as kfp_compile  # noqa: E402
from pipeline.kubeflow import deploy as kfp_deploy  # noqa: E402
from tests.kfp_backend import apiserver  # noqa: E402

SYSTEM_TITLE = {"tfx.Model": "system.Model", "tfx.Examples": "system.Dataset"}


class TaskFailed(RuntimeError):
    pass


@dataclasses.dataclass
class Artifact:
    name: str
    uri: str
    title: str  # the tfx.* title from the component definition
    metadata: dict

    def as_input(self) -> dict:
        # KFP types artifacts with its own system.* titles; Examples and Model get theirs.
        title = SYSTEM_TITLE.get(self.title, "system.Artifact")
        return {
            "name": self.name,
            "uri": self.uri,
            "type": {"schemaTitle": title},
            "metadata": self.metadata,
        }


@dataclasses.dataclass
class TaskResult:
    name: str
    state: str  # succeeded | skipped | failed
    seconds: float
    outputs: dict[str, list[Artifact]]
    parameters: dict = dataclasses.field(default_factory=dict)


def _title(definition: dict) -> str:
    import yaml

    artifact_type = definition.get("artifactType", {})
    if artifact_type.get("schemaTitle"):
        return artifact_type["schemaTitle"]
    return (yaml.safe_load(artifact_type.get("instanceSchema") or "{}") or {}).get("title", "")


def _constant(value: dict):
    """A compiled constant as KFP passes it: a JSON value, ints as floats."""
    if "constant" in value["runtimeValue"]:  # schema 2.1.0
        constant = value["runtimeValue"]["constant"]
        return float(constant) if isinstance(constant, int | float) else constant
    constant = value["runtimeValue"]["constantValue"]
    if "intValue" in constant:
        return float(constant["intValue"])
    if "doubleValue" in constant:
        return float(constant["doubleValue"])
    return constant.get("stringValue", "")


_CONDITION_INPUT = re.compile(
    r"inputs\.artifacts\['([^']+)'\]\.artifacts\[(\d+)\]\.metadata\['([^']+)'\]"
)


def evaluate_condition(condition: str, inputs: dict[str, list[Artifact]], declared: set[str]):
    """KFP's CEL trigger condition, for the subset TFX emits: metadata comparisons
    joined by && and ||."""

    def lookup(match: re.Match) -> str:
        key, index, field = match[1], int(match[2]), match[3]
        if key not in declared:
            raise TaskFailed(
                f"trigger condition reads input {key!r}, which the task does not declare"
            )
        artifacts = inputs.get(key, [])
        value = artifacts[index].metadata.get(field) if len(artifacts) > index else None
        return repr(value)

    expression = _CONDITION_INPUT.sub(lookup, condition)
    expression = expression.replace("&&", " and ").replace("||", " or ")
    expression = re.sub(r"!(?!=)", " not ", expression)
    return bool(eval(expression, {"__builtins__": {}}, {}))  # noqa: S307 - our own translation


def _query(filter_text: str, registry: list[Artifact], inputs: dict[str, list[Artifact]]):
    """A resolver's MLMD filter (`a="b" AND c=1`), over the artifacts recorded so far."""

    def placeholder(match: re.Match) -> str:
        artifacts = inputs.get(match[1], [])
        return str(artifacts[0].metadata.get(match[2], "")) if artifacts else ""

    filter_text = re.sub(
        r"\{\{\$\.inputs\.artifacts\['([^']+)'\]\.metadata\['([^']+)'\]\}\}",
        placeholder,
        filter_text,
    )
    matches = []
    for artifact in registry:
        ok = True
        for clause in filter_text.split(" AND "):
            field, _, expected = clause.partition("=")
            expected = expected.strip('"')
            if field == "schema_title":
                ok &= artifact.title == expected
            elif field == "state":
                ok &= expected == "LIVE"
            elif field == "name":
                ok &= artifact.name == expected
            elif field.startswith("metadata.") and field.endswith(".number_value"):
                value = artifact.metadata.get(field[len("metadata.") : -len(".number_value")])
                ok &= value is not None and float(value) == float(expected)
            else:
                raise TaskFailed(f"unsupported resolver filter clause {clause!r}")
        if ok:
            matches.append(artifact)
    return matches[-1:]  # the newest


class ConformanceRun:
    def __init__(self, documents: list[dict], workdir: Path, mount_root: Path):
        self.spec = documents[0]
        self.platform = documents[1] if len(documents) > 1 else {}
        self.workdir = workdir
        if "defaultPipelineRoot" not in self.spec:
            raise TaskFailed("the spec has no defaultPipelineRoot and no run sets one")
        self.pipeline_root = self.spec["defaultPipelineRoot"].rstrip("/")
        self.mount_root = mount_root
        self.run_id = time.strftime("run-%Y%m%d-%H%M%S")
        self.registry: list[Artifact] = []
        self.results: dict[str, TaskResult] = {}
        self.env: dict[str, str] = {}

    def order(self) -> list[str]:
        tasks = self.spec["root"]["dag"]["tasks"]

        def upstream(name: str) -> set[str]:
            task = tasks[name]
            deps = set(task.get("dependentTasks", []))
            for artifact in task.get("inputs", {}).get("artifacts", {}).values():
                if "taskOutputArtifact" in artifact:
                    deps.add(artifact["taskOutputArtifact"]["producerTask"])
            for parameter in task.get("inputs", {}).get("parameters", {}).values():
                if "taskOutputParameter" in parameter:
                    deps.add(parameter["taskOutputParameter"]["producerTask"])
            return deps

        ordered: list[str] = []
        pending = sorted(tasks)
        while pending:
            ready = [t for t in pending if upstream(t) <= set(ordered)]
            if not ready:
                raise TaskFailed(f"dependency cycle among {pending}")
            ordered += ready
            pending = [t for t in pending if t not in ready]
        return ordered

    def run(self, on_task=lambda result: None) -> dict[str, TaskResult]:
        self._check_volumes()
        for name in self.order():
            started = time.monotonic()
            try:
                state, outputs, parameters = self._run_task(name)
            except TaskFailed as e:
                self.results[name] = TaskResult(name, "failed", time.monotonic() - started, {})
                on_task(self.results[name])
                raise TaskFailed(f"{name}: {e}") from None
            self.results[name] = TaskResult(
                name, state, time.monotonic() - started, outputs, parameters
            )
            on_task(self.results[name])
        return self.results

    def _check_volumes(self) -> None:
        executors = (
            self.platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {})
        ).get("executors", {})
        for label, config in executors.items():
            for mount in config.get("pvcMount", []):
                if not Path(mount["mountPath"]).is_dir():
                    raise TaskFailed(
                        f"{label}: volume {mount['constant']} not at {mount['mountPath']}"
                    )

    def _inputs(self, task: dict) -> dict[str, list[Artifact]]:
        inputs = {}
        for key, spec in task.get("inputs", {}).get("artifacts", {}).items():
            source = spec["taskOutputArtifact"]
            producer = self.results.get(source["producerTask"])
            artifacts = producer.outputs.get(source["outputArtifactKey"], []) if producer else []
            if artifacts:
                inputs[key] = artifacts
        return inputs

    def _parameter(self, value: dict):
        if "taskOutputParameter" in value:
            source = value["taskOutputParameter"]
            return self.results[source["producerTask"]].parameters[source["outputParameterKey"]]
        return _constant(value)

    def _run_task(self, name: str) -> tuple[str, dict[str, list[Artifact]], dict]:
        task = self.spec["root"]["dag"]["tasks"][name]
        component = self.spec["components"][task["componentRef"]["name"]]
        executor = self.spec["deploymentSpec"]["executors"][component["executorLabel"]]
        inputs = self._inputs(task)
        condition = task.get("triggerPolicy", {}).get("condition")
        declared = set(component.get("inputDefinitions", {}).get("artifacts", {}))
        if condition and not evaluate_condition(condition, inputs, declared):
            return "skipped", {}, {}

        outputs_definition = component.get("outputDefinitions", {}).get("artifacts", {})
        if "resolver" in executor:
            queries = executor["resolver"]["outputArtifactQueries"]
            return (
                "succeeded",
                {
                    key: _query(query["filter"], self.registry, inputs)
                    for key, query in queries.items()
                },
                {},
            )

        task_dir = f"{self.run_id}/{name}"
        outputs = {
            key: [Artifact("", f"{self.pipeline_root}/{task_dir}/{key}", _title(d), {})]
            for key, d in outputs_definition.items()
        }
        parameters = {
            key: self._parameter(value)
            for key, value in task.get("inputs", {}).get("parameters", {}).items()
        }
        container = executor["container"]
        if "lifecycle" in container:
            raise TaskFailed("lifecycle hooks are Vertex AI's: open-source KFP never runs them")
        executor_output = self._execute(name, container, parameters, inputs, outputs, "executor")
        self._merge_outputs(outputs, executor_output)
        for artifacts in outputs.values():
            for artifact in artifacts:
                artifact.name = f"artifacts/{len(self.registry) + 1}"
                self.registry.append(artifact)
        return "succeeded", outputs, executor_output.get("parameterValues", {})

    def _execute(self, name, container, parameters, inputs, outputs, phase) -> dict:
        output_file = self.workdir / self.run_id / name / f"{phase}_output.json"
        output_file.parent.mkdir(parents=True, exist_ok=True)
        executor_input = {
            "inputs": {
                "parameterValues": parameters,
                "artifacts": {
                    k: {"artifacts": [a.as_input() for a in v]} for k, v in inputs.items()
                },
            },
            "outputs": {
                "artifacts": {
                    # An output's type as the launcher may pass it: no instance schema.
                    k: {"artifacts": [{"name": a.name, "uri": a.uri, "type": {}, "metadata": {}}]}
                    for k, v in outputs.items()
                    for a in v
                },
                "outputFile": str(output_file),
            },
        }
        for artifact_list in outputs.values():
            for artifact in artifact_list:  # the launcher creates each output's parent folder
                self._mirror(artifact.uri).parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(executor_input)
        command = [sys.executable if c == "python" else c for c in container["command"]]
        args = [payload if a == "{{$}}" else a for a in container["args"]]
        env = {**os.environ, "KFP_LAUNCHER_MOUNT_ROOT": str(self.mount_root), **self.env}
        log_path = output_file.with_suffix(".log")
        with open(log_path, "w") as log:
            done = subprocess.run([*command, *args], stdout=log, stderr=subprocess.STDOUT, env=env)
        if done.returncode != 0:
            tail = log_path.read_text().strip().splitlines()[-3:]
            raise TaskFailed(
                f"{phase} exited {done.returncode} (log: {log_path}): {' | '.join(tail)}"
            )
        if not output_file.exists():
            raise TaskFailed(f"{phase} wrote no executor output at {output_file}")
        return json.loads(output_file.read_text())

    def _mirror(self, uri: str) -> Path:
        """Where KFP's launcher keeps a minio:// artifact on the task's local disk."""
        scheme, _, rest = uri.partition("://")
        if scheme != "minio":
            raise TaskFailed(f"this runner mirrors minio:// URIs only, got {uri}")
        return self.mount_root / "minio" / rest

    @staticmethod
    def _merge_outputs(outputs: dict[str, list[Artifact]], executor_output: dict) -> None:
        for key, artifact_list in executor_output.get("artifacts", {}).items():
            for artifact, written in zip(
                outputs.get(key, []), artifact_list.get("artifacts", []), strict=False
            ):
                # As KFP's launcher merges them: an executor may point an output elsewhere
                # (the baseline tasks hand on an existing artifact's URI).
                artifact.uri = written.get("uri") or artifact.uri
                artifact.metadata.update(written.get("metadata", {}))


def _deploy_to_kfp(spec_path: Path, pipeline_root: str, workdir: Path, report: dict) -> str:
    """Deploys the spec with `penguins kubeflow deploy` to KFP's API server; returns the
    name of the Argo Workflow KFP compiled for the run, after checking it runs under the
    pipeline root the deploy sent."""
    report["binaries"]["apiserver"] = str(apiserver.binary("kfp-apiserver"))
    with apiserver.running(workdir) as server:
        result = kfp_deploy.deploy(spec_path, host=server.host, pipeline_name="penguins")
        ((name, workflow),) = server.workflows().items()
    (workdir / "workflow.json").write_text(json.dumps(workflow, indent=2))
    if apiserver.runtime_config(workflow).get("gcsOutputDirectory") != pipeline_root:
        raise RuntimeError(f"run {result.run_id}: the workflow does not run under {pipeline_root}")
    report["kfp_run"] = {"run_id": result.run_id, "workflow": str(workdir / "workflow.json")}
    return name


def check(workdir: Path) -> int:
    """Compile for this machine, run every task, load the pushed model and predict."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from pipeline.config import DEFAULT_DATA_ROOT, DEFAULT_SCHEMA, PipelineConfig

    workdir = workdir.resolve()
    serving_mount = workdir / "volumes" / "penguins-serving"
    serving_mount.mkdir(parents=True, exist_ok=True)
    settings = kfp_compile.KubeflowSettings(
        image="penguins:local",
        pipeline_root="minio://mlpipeline/penguins",
        data_root=str(DEFAULT_DATA_ROOT),
        schema_file=str(DEFAULT_SCHEMA),
        serving_mount=str(serving_mount),
    )
    spec_path = workdir / "pipeline.yaml"
    kfp_compile.write(kfp_compile.compile_spec(PipelineConfig(), settings), spec_path)
    print(f"compiled {spec_path}")
    report = {"kfp_version": apiserver.KFP_VERSION, "binaries": {}, "tasks": {}}

    # KFP's own API server code: the upload is validated and the run compiled by KFP.
    try:
        workflow = _deploy_to_kfp(spec_path, settings.pipeline_root, workdir, report)
    except (RuntimeError, OSError, kfp_deploy.DeployError) as e:
        print(f"kfp-check failed: {e}", file=sys.stderr)
        return 1
    print(f"KFP {apiserver.KFP_VERSION}'s API server accepted the spec: workflow {workflow}")

    run = ConformanceRun(kfp_compile.load(spec_path), workdir, workdir / "launcher")
    # The baseline tasks query ML Metadata over gRPC, as in a cluster: ml-metadata's own
    # store behind tests/kfp_backend/mlmd_server.py. This runner records nothing there, so every
    # baseline is absent here, as on a first run.
    from tests.kfp_backend import mlmd_server

    server, port = mlmd_server.serve(str(workdir / "mlmd.sqlite"))
    run.env = {"METADATA_GRPC_SERVICE_HOST": "127.0.0.1", "METADATA_GRPC_SERVICE_PORT": str(port)}
    report["mlmd"] = str(workdir / "mlmd.sqlite")
    try:
        run.run(lambda r: print(f"  {r.name:<46} {r.state:<9} {r.seconds:6.1f} s", flush=True))
    except TaskFailed as e:
        print(f"kfp-check failed: {e}", file=sys.stderr)
        return 1
    finally:
        server.stop(0)
        report["tasks"] = {name: result.state for name, result in run.results.items()}
        (workdir / "report.json").write_text(json.dumps(report, indent=2))

    pushed = run.results["Pusher"].outputs.get("pushed_model", [])
    if not pushed or not pushed[0].metadata.get("pushed"):
        print("kfp-check failed: the Pusher pushed nothing", file=sys.stderr)
        return 1
    path = pushed[0].metadata["serving_path"]
    report["pushed"] = path
    (workdir / "report.json").write_text(json.dumps(report, indent=2))
    import tensorflow as tf

    predict = tf.saved_model.load(path).signatures["serving_raw"]
    out = predict(
        island=tf.constant(["Biscoe"]),
        sex=tf.constant(["female"]),
        bill_length_mm=tf.constant([47.5]),
        bill_depth_mm=tf.constant([14.2]),
        flipper_length_mm=tf.constant([217.0]),
        body_mass_g=tf.constant([4875.0]),
    )
    print(f"pushed {path}; predicts {out['classes'].numpy()[0].decode()} for a Biscoe female")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "outputs" / "kfp-check")
    sys.exit(check(parser.parse_args().workdir))


if __name__ == "__main__":
    main()
