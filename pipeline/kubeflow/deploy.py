"""Uploads a compiled KFP v2 pipeline spec to Kubeflow Pipelines and starts a run of it.

If a pipeline of that name exists, the spec becomes a new version of it (named after the
pipeline and a UTC timestamp); otherwise it becomes a new pipeline. The run is then started in
the named experiment (created when missing) on exactly the version just uploaded.

Every failure is a `DeployError` whose message is one line naming the host, ready to print.
A bearer token only ever travels in the Authorization header: it is never logged or returned.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import kfp
import kfp_server_api
import urllib3
import yaml

DEFAULT_TIMEOUT_S = 15.0


class DeployError(Exception):
    """A deployment failed; the message is one line meant for the user."""


@dataclasses.dataclass(frozen=True)
class DeployResult:
    pipeline_id: str
    version_id: str
    version_name: str
    experiment_id: str
    run_id: str
    run_url: str
    created_pipeline: bool

    def to_dict(self) -> dict[str, str | bool]:
        return dataclasses.asdict(self)


def deploy(
    spec_path: Path,
    *,
    host: str,
    pipeline_name: str,
    experiment: str = "penguins",
    run_name: str | None = None,
    namespace: str | None = None,
    token: str | None = None,
    service_account: str | None = None,
    pipeline_root: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> DeployResult:
    """Uploads `spec_path` to the KFP API at `host` and runs it; see the module docstring.

    `token` is sent as `Authorization: Bearer <token>`; without it, inside a cluster, the
    service-account token KFP projects into pods (`KF_PIPELINES_SA_TOKEN_PATH`), else what
    kfp reads from ~/.config/kfp/context.json. `timeout_s` bounds
    connecting and each answer, and a failed connection is not retried.

    `pipeline_root` (default: the spec's `defaultPipelineRoot`, which `penguins kubeflow
    compile` writes) goes in the run's runtime config: open-source KFP's driver reads the
    root from there, then from the `kfp-launcher` ConfigMap, and never from the spec.
    """
    host = host.rstrip("/")
    with _as_deploy_error(host, token, timeout_s):
        if not host.startswith(("http://", "https://")):
            raise ValueError("the host must start with http:// or https://")
        if not pipeline_name.strip():
            raise ValueError("the pipeline name is empty")
        spec = _check_spec(Path(spec_path))
        pipeline_root = pipeline_root or spec.get("defaultPipelineRoot")
        if pipeline_root is not None and "://" not in pipeline_root:
            raise ValueError(
                f"pipeline root {pipeline_root!r} must be a URI (minio://, s3://, gs://)"
            )

        timeout = (timeout_s, timeout_s)  # (connect, read); kfp_server_api ignores a lone float
        client = _Client(
            request_timeout=timeout,
            host=host,
            existing_token=token,
            credentials=_in_cluster_credentials() if token is None else None,
            namespace=namespace or "kubeflow",  # kfp's default, which means "none given"
        )
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S-%f")

        pipeline_id = _find_pipeline(client, pipeline_name, namespace, timeout)
        if pipeline_id is None:
            pipeline = client.pipeline_uploads.upload_pipeline(
                str(spec_path), name=pipeline_name, namespace=namespace, _request_timeout=timeout
            )
            # The upload answers with the pipeline only; the server made its first version.
            versions = client.pipelines.list_pipeline_versions(
                pipeline.pipeline_id,
                sort_by="created_at desc",
                page_size=1,
                _request_timeout=timeout,
            ).pipeline_versions
            if not versions:
                raise ValueError(f"pipeline {pipeline.pipeline_id} was created without a version")
            version = versions[0]
        else:
            version = client.pipeline_uploads.upload_pipeline_version(
                str(spec_path),
                name=f"{pipeline_name}-{stamp}",
                pipelineid=pipeline_id,
                _request_timeout=timeout,
            )

        # Like kfp: pipelines are shared unless a namespace is given, experiments default to
        # the user's namespace (multi-user mode).
        user_namespace = namespace or client.get_user_namespace() or None
        experiment_id = _experiment_id(client, experiment, user_namespace, timeout)
        run = client.runs.create_run(
            body=kfp_server_api.V2beta1Run(
                display_name=run_name or f"{pipeline_name}-{stamp}",
                experiment_id=experiment_id,
                pipeline_version_reference=kfp_server_api.V2beta1PipelineVersionReference(
                    pipeline_id=version.pipeline_id,
                    pipeline_version_id=version.pipeline_version_id,
                ),
                runtime_config=kfp_server_api.V2beta1RuntimeConfig(
                    parameters={}, pipeline_root=pipeline_root
                ),
                service_account=service_account,
            ),
            _request_timeout=timeout,
        )
        return DeployResult(
            pipeline_id=version.pipeline_id,
            version_id=version.pipeline_version_id,
            version_name=version.display_name,
            experiment_id=experiment_id,
            run_id=run.run_id,
            run_url=f"{host}/#/runs/details/{run.run_id}",
            created_pipeline=pipeline_id is None,
        )


def _in_cluster_credentials():
    """Inside a cluster, the projected service-account token KFP mounts for its API
    (what kfp's own default is when no host is given), else None."""
    from kfp import client as kfp_client

    path = os.environ.get(
        kfp_client.KF_PIPELINES_SA_TOKEN_ENV, kfp_client.KF_PIPELINES_SA_TOKEN_PATH
    )
    return kfp_client.ServiceAccountTokenVolumeCredentials(path) if os.path.exists(path) else None


class _Client(kfp.Client):
    """`kfp.Client` that fails fast.

    kfp 2.5.0's constructor checks the server's health up to five times, 5 s apart, logging a
    traceback for each failure, and urllib3 retries a failed connection three times. Here the
    health check makes one attempt within the request timeout, and connections are not retried.
    """

    def __init__(self, *, request_timeout: tuple[float, float], **kwargs) -> None:
        self.request_timeout = request_timeout
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "only works with KFP v2.0.0-beta.2+"
            super().__init__(**kwargs)

    def _load_config(self, *args, **kwargs) -> kfp_server_api.Configuration:
        config = super()._load_config(*args, **kwargs)
        config.retries = urllib3.Retry(connect=0, read=0)
        return config

    def get_kfp_healthz(self, sleep_duration: int = 5) -> kfp_server_api.V2beta1GetHealthzResponse:
        return self.healthzs.get_healthz(_request_timeout=self.request_timeout)


def _check_spec(path: Path) -> dict:
    """The pipeline spec in `path`; ValueError unless it looks like a KFP pipeline spec."""
    if not path.is_file():
        raise ValueError(f"spec file {path} not found")
    # The KFP API server recognises an uploaded spec by its file name.
    if path.suffix not in (".yaml", ".yml"):
        raise ValueError(f"spec file {path} must end in .yaml or .yml")
    try:
        spec = next(yaml.safe_load_all(path.read_text()), None)  # a 2nd document: platform spec
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ValueError(f"spec file {path} is not valid YAML ({err})") from None
    if not isinstance(spec, dict):
        raise ValueError(f"{path} is not a KFP pipeline spec (not a YAML mapping)")
    missing = [key for key in ("pipelineInfo", "root") if key not in spec]
    if missing:
        raise ValueError(f"{path} is not a KFP pipeline spec (no {' or '.join(missing)})")
    return spec


def _name_filter(name: str) -> str:
    # As kfp writes it: operation 1 is EQUALS.
    predicate = {"operation": 1, "key": "display_name", "stringValue": name}
    return json.dumps({"predicates": [predicate]})


def _find_pipeline(
    client: _Client, name: str, namespace: str | None, timeout: tuple[float, float]
) -> str | None:
    found = client.pipelines.list_pipelines(
        filter=_name_filter(name), namespace=namespace, _request_timeout=timeout
    ).pipelines
    if found and len(found) > 1:
        raise ValueError(f"{len(found)} pipelines are named {name!r}")
    return found[0].pipeline_id if found else None


def _experiment_id(
    client: _Client, name: str, namespace: str | None, timeout: tuple[float, float]
) -> str:
    found = client.experiments.list_experiments(
        filter=_name_filter(name), namespace=namespace, _request_timeout=timeout
    ).experiments
    if found:
        return found[0].experiment_id
    body = kfp_server_api.V2beta1Experiment(display_name=name, namespace=namespace)
    return client.experiments.create_experiment(body=body, _request_timeout=timeout).experiment_id


@contextlib.contextmanager
def _as_deploy_error(host: str, token: str | None, timeout_s: float) -> Iterator[None]:
    """Turns any failure inside into a one-line `DeployError` naming `host`, token masked."""
    try:
        yield
    except Exception as err:
        message = f"deploy to {host} failed: {_describe(err, timeout_s)}"
        if token:
            message = message.replace(token, "***")
        raise DeployError(message) from None


def _describe(err: Exception, timeout_s: float) -> str:
    if isinstance(err, kfp_server_api.ApiException):
        if err.status in (401, 403):
            answer = _server_message(err)
            return f"authentication rejected (HTTP {err.status}: {answer}); check the token"
        if not err.status:  # how kfp_server_api reports a TLS failure
            return f"TLS error: {_shorten(str(err.reason))}"
        hint = " (is this the KFP v2 API endpoint?)" if err.status == 404 else ""
        return f"the API answered HTTP {err.status}: {_server_message(err)}{hint}"
    if isinstance(err, urllib3.exceptions.MaxRetryError) and err.reason is not None:
        err = err.reason
    # NewConnectionError (refused, unknown host) subclasses ConnectTimeoutError: test it first.
    if isinstance(err, urllib3.exceptions.NewConnectionError):
        return f"cannot connect ({_shorten(str(err).rsplit(': ', 1)[-1])})"
    if isinstance(err, (urllib3.exceptions.TimeoutError, TimeoutError)):
        return f"no answer within {timeout_s:g} s"
    if isinstance(err, (urllib3.exceptions.HTTPError, OSError)):
        return f"cannot reach the API ({type(err).__name__}: {_shorten(str(err))})"
    if isinstance(err, ValueError):
        return _shorten(str(err))
    return f"{type(err).__name__}: {_shorten(str(err))}"


def _server_message(err: kfp_server_api.ApiException) -> str:
    body = err.body.decode(errors="replace") if isinstance(err.body, bytes) else err.body or ""
    with contextlib.suppress(ValueError):
        answer = json.loads(body)
        if isinstance(answer, dict):
            # The upload handler answers `error_message`, the gRPC gateway `message`.
            body = answer.get("error_message") or answer.get("message") or answer.get("error")
            body = body or json.dumps(answer)
    # KFP wraps each cause in its caller's words, the root cause last: keep the end.
    return _shorten_keeping_end(" ".join(str(body).split())) or str(err.reason)


def _shorten_keeping_end(text: str, width: int = 240) -> str:
    if len(text) <= width:
        return text
    tail = text[-width:]
    return "... " + tail[tail.find(" ") + 1 :]


def _shorten(text: str, width: int = 200) -> str:
    return textwrap.shorten(text, width, placeholder=" ...")
