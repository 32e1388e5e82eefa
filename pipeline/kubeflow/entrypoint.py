"""The command every Kubeflow task runs: TFX's KFP v2 entrypoints, made to work on
open-source KFP v2 as well as on Vertex AI.

    python -m pipeline.kubeflow.entrypoint executor|resolve --artifact_types JSON \\
        --json_serialized_inputs_spec_args JSON --json_serialized_invocation_args JSON ...

`executor` runs a component's executor; `resolve` runs TFX's ExampleGen driver logic (the
span, its files' fingerprint and the resolved input pattern) as a task of its own, whose
output parameters become ExampleGen's inputs, so KFP's cache key changes with the data.

`compile.py` writes these commands into the spec. TFX 1.16's entrypoints were written
for Vertex AI; open-source KFP's driver and launcher hand them an ExecutorInput they
cannot read. The ExecutorInput is repaired here, then TFX's own entrypoint runs:

1. `system.*` schema titles (system.Artifact, system.Model, system.Dataset), which KFP
   gives artifacts whose `tfx.*` type it does not know, map back to TFX types;
2. an artifact with no type, or a type with no instance schema, gets the declared one;
3. an artifact with neither is typed from the metadata keys TFX writes (span, blessed...);
4. declared types come from the component definition (`--artifact_types`), and
   parameters are read from `parameterValues` with their declared types (KFP no longer
   fills the deprecated `parameters` TFX reads without an inputs spec);
5. `minio://` and `s3://` URIs, which TensorFlow cannot open, become the local paths
   where KFP's launcher mirrors artifacts (`/minio/<bucket>/...`), and are turned back
   into URIs in the executor output. `KFP_LAUNCHER_MOUNT_ROOT` moves that root (tests).

6. an input artifact that a baseline task marked `absent` (no blessed model yet, no
   earlier span) is left out, as a resolver that found nothing leaves it out locally; each
   input keeps the URI KFP knows it by in its `remote_uri` property.

On Vertex AI fixes 1 to 5 are no-ops: types are `tfx.*` and URIs are `gs://`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping

import yaml

SYSTEM_TITLES = {
    "system.Model": "tfx.Model",
    "system.Dataset": "tfx.Examples",
    "system.Metrics": "tfx.ModelEvaluation",
}
# Metadata keys that only one TFX type writes, checked in order.
METADATA_SIGNATURES = (
    ({"span", "split_names", "version"}, "tfx.Examples"),
    ({"blessed", "current_model"}, "tfx.ModelBlessing"),
    ({"blessed", "load_seconds"}, "tfx.InfraBlessing"),
    ({"pushed", "pushed_destination"}, "tfx.PushedModel"),
)
# This project's own artifact types: KFP titles (`namespace.Name`) → import paths.
CUSTOM_TYPES = {"penguins.DriftReport": "components.drift.DriftReport"}
MOUNTED_SCHEMES = {"minio://": "minio", "s3://": "s3"}
PARAMETER_TYPES = {"INT": "NUMBER_INTEGER", "DOUBLE": "NUMBER_DOUBLE", "STRING": "STRING"}
# What the ExampleGen driver resolves: the `resolve` task's outputs, ExampleGen's inputs
# (name: KFP parameter type); the last two also go on the Examples, as TFX's driver does.
RESOLVED_PARAMETERS = {
    "input_config": "STRING",
    "input_fingerprint": "STRING",
    "span": "NUMBER_INTEGER",
}
EXAMPLES_PROPERTIES = ("span", "input_fingerprint")
ABSENT_PROPERTY = "absent"
REMOTE_URI_PROPERTY = "remote_uri"


class UnknownArtifactType(ValueError):
    """An artifact whose TFX type can be neither read, declared nor inferred."""


def artifact_title(artifact: Mapping, declared: str | None, key: str) -> str:
    """The `tfx.*` schema title for one RuntimeArtifact (as JSON), by fixes 1 to 4."""
    artifact_type = artifact.get("type") or {}
    title = artifact_type.get("schemaTitle")
    if not title and artifact_type.get("instanceSchema"):
        title = (yaml.safe_load(artifact_type["instanceSchema"]) or {}).get("title")
    if title and not title.startswith("system."):
        return title
    if declared and not declared.startswith("system."):
        return declared
    if title in SYSTEM_TITLES:
        return SYSTEM_TITLES[title]
    keys = set(artifact.get("metadata", {}))
    for signature, inferred in METADATA_SIGNATURES:
        if signature <= keys:
            return inferred
    raise UnknownArtifactType(
        f"artifact {key!r} ({artifact.get('uri', 'no uri')}): type {title or 'missing'} is not "
        "a TFX type, none is declared, and its metadata does not tell"
    )


def local_path(uri: str, mount_root: str) -> str:
    """Fix 5: where KFP's launcher mirrors a minio:// or s3:// URI, else the URI itself."""
    for prefix, folder in MOUNTED_SCHEMES.items():
        if uri.startswith(prefix):
            return os.path.join(mount_root, folder, uri[len(prefix) :])
    return uri


def repair_executor_input(
    executor_input: dict, declared: Mapping[str, Mapping[str, str]], mount_root: str = "/"
) -> tuple[dict, dict[str, str]]:
    """The ExecutorInput with TFX types and local paths, and a local path → URI map."""
    repaired = json.loads(json.dumps(executor_input))
    to_uri: dict[str, str] = {}
    input_artifacts = repaired.get("inputs", {}).get("artifacts", {})
    for key in [k for k, v in input_artifacts.items() if _all_absent(v.get("artifacts", []))]:
        del input_artifacts[key]
    for side in ("inputs", "outputs"):
        for key, artifact_list in repaired.get(side, {}).get("artifacts", {}).items():
            for artifact in artifact_list.get("artifacts", []):
                title = artifact_title(artifact, declared.get(side, {}).get(key), key)
                artifact["type"] = {"schemaTitle": title}
                uri = artifact.get("uri", "")
                path = local_path(uri, mount_root)
                if side == "inputs":
                    artifact.setdefault("metadata", {})[REMOTE_URI_PROPERTY] = uri
                if path != uri:
                    artifact["uri"] = path
                    to_uri[path] = uri
    inputs = repaired.setdefault("inputs", {})
    if not inputs.get("parameterValues") and inputs.get("parameters"):
        inputs["parameterValues"] = {
            key: next(iter(value.values())) for key, value in inputs["parameters"].items()
        }
    return repaired, to_uri


def _all_absent(artifacts: list) -> bool:
    return bool(artifacts) and all(
        (a.get("metadata") or {}).get(ABSENT_PROPERTY) in (1, 1.0, "1") for a in artifacts
    )


def typed_inputs_spec(inputs_spec: dict) -> dict:
    """Fix 4: the component's input definitions with `parameterType`, which TFX reads to
    turn KFP's numbers back into ints (the V2 compiler writes the older `type`)."""
    typed = json.loads(json.dumps(inputs_spec))
    for parameter in typed.get("parameters", {}).values():
        if "parameterType" not in parameter and parameter.get("type") in PARAMETER_TYPES:
            parameter["parameterType"] = PARAMETER_TYPES[parameter.pop("type")]
    return typed


def restore_uris(
    executor_output_path: str, to_uri: Mapping[str, str], resolved: Mapping | None = None
) -> None:
    """Fix 5, on the way out: the executor output names artifacts by URI again. ExampleGen's
    Examples also get the span and fingerprint its driver task resolved (`resolved`), as
    TFX's driver would have written them."""
    if not os.path.exists(executor_output_path):
        return
    with open(executor_output_path) as f:
        output = json.load(f)
    for key, artifact_list in output.get("artifacts", {}).items():
        for artifact in artifact_list.get("artifacts", []):
            artifact["uri"] = to_uri.get(artifact.get("uri", ""), artifact.get("uri", ""))
            if key == "examples" and resolved:
                artifact.setdefault("metadata", {}).update(resolved)
    with open(executor_output_path, "w") as f:
        json.dump(output, f)


def resolve_example_gen_inputs(executor_input: dict, inputs_spec: str | None) -> dict:
    """TFX's ExampleGen driver logic, as a task: the ExecutorOutput whose parameters are the
    span, the fingerprint of its files and the input config with the span's pattern."""
    from tfx.orchestration.kubeflow.v2.file_based_example_gen import driver as tfx_driver

    with tempfile.TemporaryDirectory() as tmp:
        # The driver describes the Examples it would make; this task makes none.
        probe = json.loads(json.dumps(executor_input))
        outputs = probe.setdefault("outputs", {})
        outputs["artifacts"] = {
            "examples": {
                "artifacts": [
                    {
                        "name": "examples",
                        "type": {"schemaTitle": "tfx.Examples"},
                        "uri": os.path.join(tmp, "examples"),
                    }
                ]
            }
        }
        outputs["outputFile"] = os.path.join(tmp, "executor_output.json")
        args = ["--json_serialized_invocation_args", json.dumps(probe)]
        if inputs_spec:
            args += ["--json_serialized_inputs_spec_args", inputs_spec]
        tfx_driver.main(tfx_driver._parse_flags(args))
        with open(outputs["outputFile"]) as f:
            driver_output = json.load(f)
    values = driver_output.get("parameterValues", {})
    return {"parameterValues": {k: values[k] for k in RESOLVED_PARAMETERS}}


def _pop_flag(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
            del argv[i : i + 2]
            return value
        if arg.startswith(name + "="):
            del argv[i]
            return arg.split("=", 1)[1]
    return None


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("executor", "resolve"):
        sys.exit("usage: python -m pipeline.kubeflow.entrypoint executor|resolve [TFX flags]")
    mode, rest = argv[0], argv[1:]
    declared = json.loads(_pop_flag(rest, "--artifact_types") or "{}")
    invocation = _pop_flag(rest, "--json_serialized_invocation_args")
    if invocation is None:
        sys.exit("--json_serialized_invocation_args is required")
    inputs_spec = _pop_flag(rest, "--json_serialized_inputs_spec_args")
    mount_root = os.environ.get("KFP_LAUNCHER_MOUNT_ROOT", "/")
    executor_input, to_uri = repair_executor_input(json.loads(invocation), declared, mount_root)
    typed = json.dumps(typed_inputs_spec(json.loads(inputs_spec))) if inputs_spec else None
    output_file = executor_input["outputs"]["outputFile"]
    if mode == "resolve":
        resolved = resolve_example_gen_inputs(executor_input, typed)
        os.makedirs(os.path.dirname(output_file) or ".", exist_ok=True)
        with open(output_file, "w") as f:
            json.dump(resolved, f)
        return
    rest += ["--json_serialized_invocation_args", json.dumps(executor_input)]
    if typed:
        rest += ["--json_serialized_inputs_spec_args", typed]

    from tfx.orchestration.kubeflow.v2 import compiler_utils
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor as tfx_entry

    from pipeline import speedups

    compiler_utils.TITLE_TO_CLASS_PATH.update(CUSTOM_TYPES)
    speedups.apply()
    tfx_entry.main(tfx_entry._parse_flags(rest))
    values = executor_input.get("inputs", {}).get("parameterValues", {})
    resolved = {k: values[k] for k in EXAMPLES_PROPERTIES if k in values}
    restore_uris(output_file, to_uri, resolved)


if __name__ == "__main__":
    main()
