"""The logic of infra validation, usable without TFX: serve a SavedModel in a separate
process, send it real requests, check the answers and measure load time and latency."""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf

MODEL_SERVER_SCRIPT = Path(__file__).with_name("model_server.py")
RAW_SIGNATURE = "serving_raw"
_TOLERANCE = 1e-4


class InfraValidationError(Exception):
    """The model could not be served, or its answers were wrong."""


@dataclasses.dataclass
class InfraReport:
    blessed: bool
    reason: str
    load_seconds: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    requests: int = 0
    checks: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)


class ModelServerProcess:
    """`model_server.py` in a child process; a context manager that always stops it."""

    def __init__(self, model_dir: str, model_name: str = "model", load_timeout: float = 120.0):
        self._command = [
            sys.executable,
            "-I",  # isolated: neither the project's folders nor PYTHON* variables
            str(MODEL_SERVER_SCRIPT),
            "--model-dir",
            model_dir,
            "--model-name",
            model_name,
        ]
        self.model_name = model_name
        self._load_timeout = load_timeout
        self._process: subprocess.Popen | None = None
        self._stderr: list[str] = []
        self.port = 0
        self.load_seconds = 0.0
        self.calls = 0

    def __enter__(self) -> ModelServerProcess:
        self._process = subprocess.Popen(
            self._command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd="/",
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(
            target=self._pump, args=(self._process.stdout, lines.put), daemon=True
        ).start()
        threading.Thread(
            target=self._pump, args=(self._process.stderr, self._stderr.append), daemon=True
        ).start()
        try:
            self._wait_ready(lines)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    @staticmethod
    def _pump(stream, sink) -> None:
        for line in stream:
            sink(line.rstrip("\n"))

    def _wait_ready(self, lines: queue.Queue) -> None:
        deadline = time.monotonic() + self._load_timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                if self._process.poll() is not None:
                    time.sleep(0.2)  # let the stderr pump catch up
                    raise InfraValidationError(
                        f"model server exited with code {self._process.returncode} while loading"
                        f" the model: {self.stderr_tail()}"
                    ) from None
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("event") == "ready":
                self.port, self.load_seconds = event["port"], event["load_seconds"]
                return
        raise InfraValidationError(
            f"model server was not ready within {self._load_timeout:.0f} s: {self.stderr_tail()}"
        )

    def stderr_tail(self, lines: int = 3) -> str:
        tail = [line for line in self._stderr if line.strip()][-lines:]
        return " | ".join(tail) or "(no output)"

    def __exit__(self, *exc) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def url(self, suffix: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/v1/models/{self.model_name}{suffix}"

    def call(self, suffix: str = "", body: dict | None = None, timeout: float = 30.0) -> dict:
        self.calls += 1
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url(suffix), data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            raise InfraValidationError(f"{self.url(suffix)} answered {e.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError) as e:
            raise InfraValidationError(f"{self.url(suffix)} did not answer: {e}") from None


def strip_feature(serialized: bytes, key: str | None) -> bytes:
    """A serialized tf.Example without one feature (the label: serving requests lack it)."""
    if not key:
        return serialized
    example = tf.train.Example.FromString(serialized)
    if key in example.features.feature:
        del example.features.feature[key]
    return example.SerializeToString()


def example_to_raw_row(serialized: bytes, inputs: dict[str, dict]) -> dict:
    """The raw-values request row for a tf.Example: one value per input, null when absent."""
    feature_map = tf.train.Example.FromString(serialized).features.feature
    row = {}
    for key, spec in inputs.items():
        feature = feature_map.get(key)
        kind = feature.WhichOneof("kind") if feature is not None else None
        values = list(getattr(feature, kind).value) if kind else []
        if not values:
            row[key] = "" if spec["dtype"] == "string" else None
        elif kind == "bytes_list":
            row[key] = values[0].decode()
        else:
            row[key] = float(values[0])
    return row


def _check_predictions(predictions: list, expected_rows: int, signature: str) -> None:
    if len(predictions) != expected_rows:
        raise InfraValidationError(
            f"{signature}: {len(predictions)} predictions for {expected_rows} instances"
        )
    for i, prediction in enumerate(predictions):
        probabilities = prediction.get("probabilities")
        if probabilities is None:
            continue
        if not all(p is not None and math.isfinite(p) for p in probabilities):
            raise InfraValidationError(f"{signature}: row {i} has non-finite probabilities")
        if abs(sum(probabilities) - 1.0) > 1e-3:
            raise InfraValidationError(
                f"{signature}: row {i} probabilities sum to {sum(probabilities):.4f}, not 1"
            )


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def validate_model(
    model_dir: str,
    examples: Sequence[bytes],
    *,
    model_name: str = "model",
    latency_requests: int = 20,
    load_timeout: float = 120.0,
) -> InfraReport:
    """Serves `model_dir` and checks it; never raises for a model that fails, reports it."""
    if not examples:
        raise ValueError("infra validation needs at least one example to send")
    checks: list[str] = []
    server = ModelServerProcess(model_dir, model_name, load_timeout)
    try:
        with server:
            checks.append(f"loaded in {server.load_seconds:.2f} s")
            states = [s["state"] for s in server.call()["model_version_status"]]
            if states != ["AVAILABLE"]:
                raise InfraValidationError(f"model status is {states}, not AVAILABLE")
            signatures = server.call("/metadata")["metadata"]["signature_def"]
            if "serving_default" not in signatures:
                raise InfraValidationError("the model has no serving_default signature")

            batch = [{"b64": base64.b64encode(e).decode()} for e in examples]
            default = server.call(":predict", {"instances": batch})["predictions"]
            _check_predictions(default, len(examples), "serving_default")
            checks.append(f"serving_default answered {len(examples)} examples")

            if RAW_SIGNATURE in signatures:
                rows = [
                    example_to_raw_row(e, signatures[RAW_SIGNATURE]["inputs"]) for e in examples
                ]
                body = {"signature_name": RAW_SIGNATURE, "instances": rows}
                raw = server.call(":predict", body)["predictions"]
                _check_predictions(raw, len(examples), RAW_SIGNATURE)
                for i, (a, b) in enumerate(zip(default, raw, strict=True)):
                    pairs = zip(a["probabilities"], b["probabilities"], strict=True)
                    gap = max(abs(x - y) for x, y in pairs)
                    if gap > _TOLERANCE:
                        raise InfraValidationError(
                            f"{RAW_SIGNATURE} disagrees with serving_default on row {i}"
                            f" by {gap:.2g}"
                        )
                checks.append(f"{RAW_SIGNATURE} agrees with serving_default")

            latencies = []
            for i in range(latency_requests):
                start = time.perf_counter()
                server.call(":predict", {"instances": [batch[i % len(batch)]]})
                latencies.append((time.perf_counter() - start) * 1000)
            p50, p95 = (_percentile(latencies, q) if latencies else None for q in (0.5, 0.95))
            return InfraReport(
                blessed=True,
                reason="model loaded and answered correctly",
                load_seconds=server.load_seconds,
                latency_p50_ms=p50,
                latency_p95_ms=p95,
                requests=server.calls,
                checks=checks,
            )
    except InfraValidationError as e:
        return InfraReport(
            blessed=False, reason=str(e), load_seconds=server.load_seconds or None, checks=checks
        )
