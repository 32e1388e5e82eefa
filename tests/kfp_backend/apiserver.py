"""KFP's API server (release 2.0.5's own code, built by `make kfp-tools`) on 127.0.0.1.

`tests/kfp_backend/kfp-2.0.5/cmd/kfp-apiserver` wires KFP's server and resource packages as KFP's
own main does. Stand-ins, all KFP's own test client manager: the Kubernetes and Argo
clients (a created run's Argo Workflow is kept, not submitted; `workflows()` returns it),
the database (KFP's stores on in-memory SQLite instead of MySQL) and the object store for
uploaded pipeline files (in memory instead of MinIO).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.db_servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
KFP_VERSION = "2.0.5"
BIN_DIR = Path(os.environ.get("KFP_BIN_DIR", ROOT / "build" / f"kfp-{KFP_VERSION}"))


def binary(name: str) -> Path:
    path = BIN_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: build KFP's binaries with `make kfp-tools`")
    return path


class ApiServer:
    def __init__(self, process: subprocess.Popen, http_port: int, grpc_port: int, log: Path):
        self.process, self.http_port, self.grpc_port, self.log = process, http_port, grpc_port, log

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def workflows(self) -> dict[str, dict]:
        """The Argo Workflows the API server created, by name."""
        with urllib.request.urlopen(f"{self.host}/kfp-check/workflows", timeout=10) as answer:
            return json.load(answer)


def runtime_config(workflow: dict) -> dict:
    """A run's runtime config as KFP's compiler hands it to the root DAG's driver."""
    for template in workflow["spec"]["templates"]:
        for task in template.get("dag", {}).get("tasks", []):
            for parameter in task.get("arguments", {}).get("parameters", []):
                if parameter["name"] == "runtime-config":
                    return json.loads(parameter["value"])
    raise ValueError("no runtime-config argument in the workflow")


@contextlib.contextmanager
def running(workdir: Path) -> Iterator[ApiServer]:
    """Starts the API server on free loopback ports; stops it (by PID) on exit."""
    http_port, grpc_port = free_port(), free_port()
    log = workdir / "kfp-apiserver.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                str(binary("kfp-apiserver")),
                f"--http=127.0.0.1:{http_port}",
                f"--grpc=127.0.0.1:{grpc_port}",
                "--logtostderr",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    server = ApiServer(process, http_port, grpc_port, log)
    try:
        # Its gRPC listener is open before the HTTP one, which forwards to it.
        wait_for_port(http_port, "kfp-apiserver", log, alive=lambda: process.poll() is None)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
