"""Tests for `deploy` against a stand-in for the KFP API server.

No real KFP API server can run here (it needs Kubernetes, a database and object storage), so
`_FakeKfp` is a small stdlib HTTP server that answers the v2beta1 REST calls kfp 2.5.0's client
makes in a deployment: healthz, list pipelines by name, upload a pipeline or a pipeline version
(multipart), list a pipeline's versions, list and create experiments, create a run. It keeps
every request, so the tests check what actually reached the server.
"""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
import itertools
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import kfp
import pytest

from pipeline.kubeflow.deploy import DeployError, deploy

# Not a compiled spec: just enough to look like one.
SPEC = """\
pipelineInfo:
  name: penguin-test
root:
  dag:
    tasks: {}
schemaVersion: 2.1.0
sdkVersion: kfp-2.5.0
"""
API = "/apis/v2beta1"


@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    json: dict | None
    files: dict[str, bytes]  # multipart form field -> file content


class _FakeKfp(ThreadingHTTPServer):
    """Pipelines, versions, experiments and runs in dicts; 401 unless `token` is presented."""

    def __init__(self, token: str | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token = token
        self.fail: dict[str, tuple[int, str]] = {}  # path -> (status, message) to answer with
        self.requests: list[Request] = []
        self.pipelines: dict[str, dict] = {}
        self.versions: dict[str, list[dict]] = {}  # pipeline id -> versions, oldest first
        self.experiments: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._routes: list[tuple[str, str, Callable[..., dict]]] = [
            ("GET", "/healthz", lambda request: {"multi_user": False}),
            ("GET", "/pipelines", self._list_pipelines),
            ("POST", "/pipelines/upload", self._upload_pipeline),
            ("POST", "/pipelines/upload_version", self._upload_version),
            ("GET", "/pipelines/(?P<pipeline_id>[^/]+)/versions", self._list_versions),
            ("GET", "/experiments", self._list_experiments),
            ("POST", "/experiments", self._create_experiment),
            ("POST", "/runs", self._create_run),
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def calls(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if (r.method, r.path) == (method, API + path)]

    def answer(self, request: Request) -> tuple[int, dict]:
        with self._lock:
            self.requests.append(request)
            if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
                return _error(401, "Unauthenticated: invalid or missing bearer token")
            if request.path in self.fail:
                return _error(*self.fail[request.path])
            for method, pattern, handler in self._routes:
                match = re.fullmatch(API + pattern, request.path)
                if match and method == request.method:
                    try:
                        return 200, handler(request, **match.groupdict())
                    except LookupError as err:
                        return _error(404, str(err))
                    except FileExistsError as err:
                        return _error(409, str(err))
            return _error(404, f"no route for {request.method} {request.path}")

    def _new(self, kind: str, **fields) -> dict:
        return {f"{kind}_id": f"{kind}-{next(self._ids)}", "created_at": _now(), **fields}

    def _list_pipelines(self, request: Request) -> dict:
        found = [p for p in self.pipelines.values() if _matches(request, p)]
        return {"pipelines": found, "total_size": len(found)} if found else {}

    def _upload_pipeline(self, request: Request) -> dict:
        name = request.query["name"]
        pipeline = self._new("pipeline", display_name=name)
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        # Like the real server: the first version is named after the pipeline.
        self._add_version(pipeline["pipeline_id"], name, request.files["uploadfile"])
        return pipeline

    def _upload_version(self, request: Request) -> dict:
        pipeline_id = request.query["pipelineid"]
        if pipeline_id not in self.pipelines:
            raise LookupError(f"pipeline {pipeline_id} not found")
        return self._add_version(pipeline_id, request.query["name"], request.files["uploadfile"])

    def _add_version(self, pipeline_id: str, name: str, spec: bytes) -> dict:
        versions = self.versions.setdefault(pipeline_id, [])
        if any(v["display_name"] == name for v in versions):
            raise FileExistsError(f"a version named {name} already exists")
        version = self._new("pipeline_version", pipeline_id=pipeline_id, display_name=name)
        versions.append({**version, "spec": spec})
        return version

    def _list_versions(self, request: Request, pipeline_id: str) -> dict:
        versions = [{k: v for k, v in d.items() if k != "spec"} for d in self.versions[pipeline_id]]
        if request.query.get("sort_by") == "created_at desc":
            versions.reverse()
        return {"pipeline_versions": versions, "total_size": len(versions)}

    def _list_experiments(self, request: Request) -> dict:
        found = [e for e in self.experiments.values() if _matches(request, e)]
        return {"experiments": found, "total_size": len(found)} if found else {}

    def _create_experiment(self, request: Request) -> dict:
        experiment = self._new("experiment", **request.json)
        self.experiments[experiment["experiment_id"]] = experiment
        return experiment

    def _create_run(self, request: Request) -> dict:
        reference = request.json["pipeline_version_reference"]
        versions = self.versions.get(reference["pipeline_id"], [])
        if not any(v["pipeline_version_id"] == reference["pipeline_version_id"] for v in versions):
            raise LookupError(f"pipeline version {reference} not found")
        run = self._new("run", state="PENDING", **request.json)
        self.runs[run["run_id"]] = run
        return run


class _Handler(BaseHTTPRequestHandler):
    server: _FakeKfp

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        content_type = self.headers.get("Content-Type", "")
        request = Request(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query)),
            headers={name.lower(): value for name, value in self.headers.items()},
            json=json.loads(body) if body and "json" in content_type else None,
            files=_form_files(content_type, body) if "multipart" in content_type else {},
        )
        status, answer = self.server.answer(request)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass


def _form_files(content_type: str, body: bytes) -> dict[str, bytes]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    return {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
        for part in message.iter_parts()
    }


def _matches(request: Request, item: dict) -> bool:
    """Whether `item` passes the request's display_name EQUALS filter (the only one used)."""
    if "filter" not in request.query:
        return True
    [predicate] = json.loads(request.query["filter"])["predicates"]
    assert predicate["key"] == "display_name" and predicate["operation"] in (1, "EQUALS")
    return item["display_name"] == predicate["stringValue"]


def _error(status: int, message: str) -> tuple[int, dict]:
    return status, {"error": message, "message": message, "code": status}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@pytest.fixture(autouse=True)
def _no_saved_kfp_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # kfp.Client reads a saved namespace and auth header from ~/.config/kfp/context.json.
    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "kfp-context.json"))


@pytest.fixture
def start_server() -> Iterator[Callable[..., _FakeKfp]]:
    servers = []

    def start(token: str | None = None) -> _FakeKfp:
        server = _FakeKfp(token)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(SPEC)
    return path


def test_first_deploy_creates_pipeline_experiment_and_run(start_server, spec):
    server = start_server()

    result = deploy(
        spec, host=server.url, pipeline_name="penguins", experiment="dev", run_name="first"
    )

    assert result.created_pipeline
    [upload] = server.calls("POST", "/pipelines/upload")
    assert upload.query["name"] == "penguins"
    assert upload.files["uploadfile"] == spec.read_bytes()
    assert not server.calls("POST", "/pipelines/upload_version")
    [pipeline] = server.pipelines.values()
    [version] = server.versions[pipeline["pipeline_id"]]
    assert (result.pipeline_id, result.version_id, result.version_name) == (
        pipeline["pipeline_id"],
        version["pipeline_version_id"],
        "penguins",
    )
    [experiment] = server.experiments.values()
    assert experiment["display_name"] == "dev"
    assert experiment["experiment_id"] == result.experiment_id
    [run] = server.calls("POST", "/runs")
    assert run.json["display_name"] == "first"
    assert run.json["experiment_id"] == result.experiment_id
    assert run.json["pipeline_version_reference"] == {
        "pipeline_id": result.pipeline_id,
        "pipeline_version_id": result.version_id,
    }
    assert "pipeline_spec" not in run.json  # the run refers to the stored version
    assert result.run_id in server.runs
    assert result.run_url == f"{server.url}/#/runs/details/{result.run_id}"


def test_second_deploy_uploads_a_new_version_and_runs_it(start_server, spec):
    server = start_server()
    first = deploy(spec, host=server.url, pipeline_name="penguins")

    second = deploy(
        spec, host=server.url, pipeline_name="penguins", service_account="penguins-runner"
    )

    assert not second.created_pipeline
    assert server.runs[second.run_id]["service_account"] == "penguins-runner"
    assert len(server.calls("POST", "/pipelines/upload")) == 1
    assert list(server.pipelines) == [first.pipeline_id] == [second.pipeline_id]
    [upload] = server.calls("POST", "/pipelines/upload_version")
    assert upload.query == {"name": second.version_name, "pipelineid": first.pipeline_id}
    assert upload.files["uploadfile"] == spec.read_bytes()
    assert re.fullmatch(r"penguins-\d{8}-\d{6}-\d{6}", second.version_name)
    assert [v["pipeline_version_id"] for v in server.versions[first.pipeline_id]] == [
        first.version_id,
        second.version_id,
    ]
    reference = server.runs[second.run_id]["pipeline_version_reference"]
    assert reference["pipeline_version_id"] == second.version_id
    assert second.experiment_id == first.experiment_id
    assert len(server.calls("POST", "/experiments")) == 1


def test_token_is_sent_as_bearer_and_kept_out_of_results(start_server, spec, caplog, capfd):
    token = "s3cr3t-token-value"
    server = start_server(token=token)
    caplog.set_level(logging.DEBUG)

    result = deploy(spec, host=server.url, pipeline_name="penguins", token=token)

    assert server.requests
    assert {r.headers.get("authorization") for r in server.requests} == {f"Bearer {token}"}
    assert token not in json.dumps(result.to_dict())
    [upload] = server.calls("POST", "/pipelines/upload")
    assert token.encode() not in upload.files["uploadfile"]
    out, err = capfd.readouterr()
    assert token not in out + err + caplog.text


def test_in_cluster_the_mounted_service_account_token_is_used(
    start_server, spec, tmp_path, monkeypatch
):
    (tmp_path / "token").write_text("projected-sa-token")
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(tmp_path / "token"))
    server = start_server(token="projected-sa-token")

    deploy(spec, host=server.url, pipeline_name="penguins")

    assert {r.headers.get("authorization") for r in server.requests} == {
        "Bearer projected-sa-token"
    }


def test_unreachable_host_fails_fast_with_one_line(spec):
    with socket.socket() as sock:  # a port that was free a moment ago, so nothing listens
        sock.bind(("127.0.0.1", 0))
        host = f"http://127.0.0.1:{sock.getsockname()[1]}"

    started = time.monotonic()
    with pytest.raises(DeployError) as caught:
        deploy(spec, host=host, pipeline_name="penguins", timeout_s=2)

    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert host in message and "cannot connect" in message and "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_silent_host_times_out(spec):
    with socket.socket() as sock:  # accepts connections (the backlog) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        host = f"http://127.0.0.1:{sock.getsockname()[1]}"

        started = time.monotonic()
        with pytest.raises(DeployError) as caught:
            deploy(spec, host=host, pipeline_name="penguins", timeout_s=0.5)

    assert time.monotonic() - started < 3
    assert str(caught.value) == f"deploy to {host} failed: no answer within 0.5 s"


def test_namespace_is_passed_on(start_server, spec):
    server = start_server()

    deploy(spec, host=server.url, pipeline_name="penguins", namespace="team-a")

    assert not server.calls("GET", "/healthz")  # kfp skips it once a namespace is set
    [upload] = server.calls("POST", "/pipelines/upload")
    [listing] = server.calls("GET", "/experiments")
    assert upload.query["namespace"] == listing.query["namespace"] == "team-a"
    [experiment] = server.experiments.values()
    assert experiment["namespace"] == "team-a"


def test_rejected_token_is_reported_as_an_authentication_failure(start_server, spec):
    server = start_server(token="the-right-token")

    started = time.monotonic()
    with pytest.raises(DeployError) as caught:
        deploy(spec, host=server.url, pipeline_name="penguins", token="a-wrong-token")

    assert time.monotonic() - started < 5  # kfp itself would retry healthz for 20 s
    message = str(caught.value)
    assert server.url in message and "authentication" in message and "HTTP 401" in message
    assert "a-wrong-token" not in message and "\n" not in message
    assert not server.calls("POST", "/pipelines/upload")


def test_api_error_carries_status_and_server_message(start_server, spec):
    server = start_server()
    server.fail[f"{API}/runs"] = (500, "cannot compile workflow:\n  bad   spec")

    with pytest.raises(DeployError) as caught:
        deploy(spec, host=server.url, pipeline_name="penguins")

    expected = "the API answered HTTP 500: cannot compile workflow: bad spec"
    assert str(caught.value) == f"deploy to {server.url} failed: {expected}"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("missing.yaml", None, "not found"),
        ("broken.yaml", "root: [unclosed\n", "not valid YAML"),
        ("list.yaml", "- pipelineInfo\n- root\n", "not a KFP pipeline spec"),
        ("component.yaml", "pipelineInfo: {name: x}\ndeploymentSpec: {}\n", r"no root\)"),
        ("pipeline.json", SPEC, r"\.yaml or \.yml"),
    ],
)
def test_bad_spec_fails_before_any_request(start_server, tmp_path, name, text, expected):
    server = start_server()
    path = tmp_path / name
    if text is not None:
        path.write_text(text)

    with pytest.raises(DeployError, match=expected) as caught:
        deploy(path, host=server.url, pipeline_name="penguins")

    assert server.url in str(caught.value) and "\n" not in str(caught.value)
    assert server.requests == []
