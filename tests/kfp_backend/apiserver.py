"""KFP's API server (release 2.0.5's own code, built by `make kfp-tools`) on 127.0.0.1.

`tests/kfp_backend/kfp-2.0.5/cmd/kfp-apiserver` wires KFP's server and resource packages as KFP's
own main does, over KFP's SQL stores; only the cluster clients are KFP's in-memory fakes,
so a created run's Argo Workflow is kept, not submitted, and `workflows()` returns it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KFP_VERSION = "2.0.5"
BIN_DIR = Path(os.environ.get("KFP_BIN_DIR", ROOT / "build" / f"kfp-{KFP_VERSION}"))


def binary(name: str) -> Path:
    path = BIN_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: build KFP's binaries with `make kfp-tools`")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


@contextlib.contextmanager
def running(workdir: Path, timeout_s: float = 30) -> Iterator[ApiServer]:
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
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                urllib.request.urlopen(f"{server.host}/apis/v2beta1/healthz", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"kfp-apiserver did not start (log: {log})") from None
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
