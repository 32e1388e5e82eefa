"""Static checks of what ships to a cluster: the kustomize manifests and the image's Dockerfile.

Fast and offline: nothing is built or applied (CI has no Docker engine and no cluster).
`kubectl kustomize` runs client-side when kubectl is installed, and is skipped otherwise.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "kubeflow" / "manifests"
KUSTOMIZATION = MANIFESTS / "kustomization.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOCK = ROOT / "requirements.lock"
PROJECT_NAME = "penguin-pipeline"


# --- kustomize manifests -------------------------------------------------------------------


def _manifest_files() -> list[Path]:
    return sorted(p for p in MANIFESTS.rglob("*") if p.suffix in (".yaml", ".yml"))


def _resource_files() -> list[Path]:
    return [p for p in _manifest_files() if p.name != "kustomization.yaml"]


def _kustomization() -> dict:
    return yaml.safe_load(KUSTOMIZATION.read_text())


def _resources() -> list[tuple[str, dict]]:
    """(file name, document) for every document of every manifest the kustomization lists
    (a missing file is test_kustomization_lists_only_files_that_exist's to report)."""
    return [
        (name, doc)
        for name in _kustomization()["resources"]
        if (MANIFESTS / name).is_file()
        for doc in yaml.safe_load_all((MANIFESTS / name).read_text())
        if doc is not None
    ]


def _resource(kind: str) -> dict:
    (doc,) = [doc for _, doc in _resources() if doc["kind"] == kind]
    return doc


def _compile_default(field: str):
    """A default of `penguins kubeflow compile`'s settings: what the compiled spec holds."""
    from pipeline.kubeflow.compile import KubeflowSettings

    return {f.name: f.default for f in dataclasses.fields(KubeflowSettings)}[field]


@pytest.mark.parametrize("path", _manifest_files(), ids=lambda p: p.name)
def test_every_manifest_parses_as_yaml(path: Path):
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert documents, f"{path.name} holds no YAML document"


def test_kustomization_lists_only_files_that_exist():
    missing = [name for name in _kustomization()["resources"] if not (MANIFESTS / name).is_file()]
    assert not missing


def test_every_manifest_file_is_listed_in_the_kustomization():
    listed = {(MANIFESTS / name).resolve() for name in _kustomization()["resources"]}
    unlisted = [p.name for p in _resource_files() if p.resolve() not in listed]
    assert not unlisted


def test_kustomization_installs_into_kubeflow_by_default():
    assert _kustomization()["namespace"] == "kubeflow"


@pytest.mark.parametrize(
    "name,doc", _resources(), ids=[f"{name}:{doc.get('kind')}" for name, doc in _resources()]
)
def test_every_resource_has_api_version_kind_and_name(name: str, doc: dict):
    assert doc.get("apiVersion"), name
    assert doc.get("kind"), name
    assert doc.get("metadata", {}).get("name"), name


def test_resources_leave_their_namespace_to_kustomize_so_an_overlay_can_change_it():
    pinned = [name for name, doc in _resources() if "namespace" in doc["metadata"]]
    assert not pinned


def test_serving_claim_is_the_one_the_compiled_spec_mounts_into_the_pusher():
    claim = _resource("PersistentVolumeClaim")
    assert claim["metadata"]["name"] == _compile_default("serving_pvc")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert "storageClassName" not in claim["spec"]  # the cluster's default class


def test_resource_notes_match_the_requests_compiled_into_the_spec():
    notes = _resource("ConfigMap")["data"]
    for task, cpu, memory in _compile_default("resources"):
        assert notes[task] == f"cpu={cpu} memory={memory}"


def test_no_limit_range_in_the_namespace_kfp_shares_with_its_own_pods():
    assert not [name for name, doc in _resources() if doc["kind"] == "LimitRange"]


def test_runner_role_has_no_wildcards_and_reads_only_named_secrets():
    rules = _resource("Role")["rules"]
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], rule
        if "secrets" in rule["resources"]:
            assert rule["resourceNames"] == ["mlpipeline-minio-artifact"]
            assert rule["verbs"] == ["get"]
    assert any("secrets" in rule["resources"] for rule in rules)


def test_runner_role_is_bound_to_the_runner_service_account():
    account = _resource("ServiceAccount")["metadata"]["name"]
    binding = _resource("RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": _resource("Role")["metadata"]["name"],
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account}]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_every_resource_into_kubeflow():
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(MANIFESTS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    documents = [doc for doc in yaml.safe_load_all(rendered) if doc]
    assert sorted(d["kind"] for d in documents) == sorted(d["kind"] for _, d in _resources())
    assert {d["metadata"]["namespace"] for d in documents} == {"kubeflow"}


# --- Dockerfile ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    stage: int  # index of the FROM it follows; -1 before the first


def _instructions() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped (Docker
    drops comment lines inside a continuation too)."""
    result, parts, stage = [], [], -1
    for line in DOCKERFILE.read_text().splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        continued = text.endswith("\\")
        parts.append(text[:-1].strip() if continued else text)
        if continued:
            continue
        keyword, _, value = " ".join(parts).partition(" ")
        parts = []
        if keyword.upper() == "FROM":
            stage += 1
        result.append(Instruction(keyword.upper(), value.strip(), stage))
    return result


def _final_stage() -> list[Instruction]:
    instructions = _instructions()
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last]


def _runs() -> list[str]:
    return [i.value for i in _instructions() if i.keyword == "RUN"]


def _shell_commands() -> list[str]:
    """Every command of every RUN, split at && and ;."""
    return [c.strip() for run in _runs() for c in re.split(r"&&|;", run) if c.strip()]


def _copy_sources() -> list[str]:
    """The build-context paths COPY and ADD read (not those copied from another stage)."""
    sources = []
    for ins in _instructions():
        if ins.keyword not in ("COPY", "ADD"):
            continue
        words = shlex.split(ins.value)
        if any(w.startswith("--from") for w in words):
            continue
        sources += [w for w in words if not w.startswith("--")][:-1]
    return sources


def _global_args() -> dict[str, str]:
    args = {}
    for ins in _instructions():
        if ins.keyword == "ARG" and ins.stage == -1:
            name, _, default = ins.value.partition("=")
            args[name] = default.strip("\"'")
    return args


def _env(stage: list[Instruction]) -> dict[str, str]:
    env = {}
    for ins in stage:
        if ins.keyword == "ENV":
            env.update(word.split("=", 1) for word in shlex.split(ins.value))
    return env


def test_every_image_is_based_on_python_3_10():
    args, stages = _global_args(), set()
    for ins in _instructions():
        if ins.keyword != "FROM":
            continue
        words = ins.value.split()
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args[m[1]], words[0])
        if image not in stages:
            assert re.fullmatch(r"python:3\.10(\.\d+)?(-[\w.-]+)?", image), image
        if len(words) == 3 and words[1].upper() == "AS":
            stages.add(words[2])


def test_image_runs_as_a_numeric_non_root_user_set_after_the_last_install_step():
    stage = _final_stage()
    users = [n for n, ins in enumerate(stage) if ins.keyword == "USER"]
    runs = [n for n, ins in enumerate(stage) if ins.keyword == "RUN"]
    assert users, "the image sets no USER: it would run as root"
    uid, _, gid = stage[users[-1]].value.partition(":")
    assert uid.isdigit() and int(uid) != 0  # numeric, so runAsNonRoot can verify it
    assert not gid or (gid.isdigit() and int(gid) != 0)
    assert not runs or users[-1] > runs[-1]


def test_image_sets_legacy_keras_before_tensorflow_loads():
    env = _env(_final_stage())
    assert env["TF_USE_LEGACY_KERAS"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")


def test_image_leaves_the_command_to_kfp():
    assert not [i for i in _instructions() if i.keyword == "ENTRYPOINT"]


def test_dependencies_come_from_the_lock_without_a_fresh_resolve():
    assert "requirements.lock" in _copy_sources()
    commands = _shell_commands()
    assert any(c.startswith("uv pip sync") for c in commands)
    for command in commands:
        assert not re.search(r"\bpip compile\b|\buv (lock|sync|add)\b|pip install -r", command)
        if command.startswith("uv pip install"):
            assert "--no-deps" in command.split(), command
        elif command.startswith("pip install"):
            packages = [w for w in command.split()[2:] if not w.startswith("-")]
            assert all(re.fullmatch(r"[\w.-]+==[\w.]+", p) for p in packages), command


def test_project_is_installed_as_a_regular_package_not_editable():
    installs = [c for c in _shell_commands() if c.startswith("uv pip install")]
    assert installs
    for command in installs:
        assert not {"-e", "--editable"} & set(command.split()), command


def _lock_parents() -> dict[str, set[str]]:
    """Package → the packages (or the project) that need it, from the lock's `# via` notes."""
    parents, current = {}, None
    for line in LOCK.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9][\w.-]*)==", line):
            current = match[1].lower()
            parents[current] = set()
        elif current and line.strip().startswith("#"):
            words = line.strip().lstrip("#").split()
            names = words[1:] if words[:1] == ["via"] else words
            parents[current].update(n.lower() for n in names[:1])
    return parents


def test_runtime_install_drops_only_packages_that_nothing_at_run_time_needs():
    (match,) = [m for run in _runs() if (m := re.search(r"grep -v -E '\^\(([^)]+)\)==", run))]
    dropped = set(match[1].lower().split("|"))
    parents = _lock_parents()
    assert dropped <= parents.keys()
    for name in dropped:
        needed_by = parents[name] - dropped - {PROJECT_NAME}
        assert not needed_by, f"{name} is needed by {sorted(needed_by)}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {re.split(r"[\s<>=!~;\[]", d)[0].lower() for d in project["dependencies"]}
    assert not dropped & runtime


def test_every_path_the_dockerfile_copies_exists():
    missing = [source for source in _copy_sources() if not (ROOT / source).exists()]
    assert not missing


def _pattern_regex(pattern: str) -> str:
    """A .dockerignore pattern as a regex: `**/` any folders, `*` and `?` within one name."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            regex, i = regex + pattern[i : end + 1], end + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return regex


def _dockerignored(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for pattern in patterns:
        regex = _pattern_regex(pattern.lstrip("!").strip("/"))
        if any(re.fullmatch(regex, c) for c in candidates):
            ignored = not pattern.startswith("!")
    return ignored


def test_dockerignore_keeps_everything_the_image_needs():
    needed = []
    for source in _copy_sources():
        path = ROOT / source
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            if "__pycache__" in relative or fnmatch.fnmatch(file.name, "*_test.py"):
                continue
            needed.append(relative)
    assert "components/infra_validator/model_server.py" in needed
    assert not [p for p in needed if _dockerignored(p)]


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "outputs/metadata.db",
        "tests/e2e_test.py",
        "kubeflow/pipeline.yaml",
        "pipeline/cli_test.py",
        "pipeline/__pycache__/cli.cpython-310.pyc",
        "penguin_pipeline.egg-info/PKG-INFO",
    ],
)
def test_dockerignore_keeps_local_state_and_tests_out_of_the_image(path: str):
    assert _dockerignored(path)


def test_image_lets_its_user_write_where_kfp_stages_artifacts():
    # KFP's launcher mirrors artifacts under /minio, /s3 and /gcs, which a non-root user could
    # not create at run time (KFP before 2.3 mounts nothing there).
    stage = _final_stage()
    uid = [ins.value for ins in stage if ins.keyword == "USER"][-1].partition(":")[0]
    prepared = [ins.value for ins in stage if ins.keyword == "RUN" and f"-o {uid}" in ins.value]
    for folder in ("/minio", "/s3", "/gcs", _env(stage)["HOME"]):
        assert any(re.search(rf"\s{re.escape(folder)}(\s|$)", run) for run in prepared), folder
