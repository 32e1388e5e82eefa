"""A minimal model server speaking TF Serving's REST API, for infra validation.

Run as a script (`python -I model_server.py --model-dir DIR`), it imports only the
standard library and TensorFlow, never the project: what it can load and answer is
what a real model server can. Once the model is loaded it prints one JSON line
`{"event": "ready", "port": P, "load_seconds": S}` on stdout and serves until killed.

Endpoints (a subset of TF Serving's):
- GET  /v1/models/NAME           version status
- GET  /v1/models/NAME/metadata  signature inputs and outputs
- POST /v1/models/NAME:predict   {"signature_name": ..., "instances": [...]}
  Binary strings are {"b64": "..."}; a null numeric input means absent (NaN).
"""

import argparse
import base64
import json
import math
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _decode(value, dtype):
    if isinstance(value, dict) and "b64" in value:
        return base64.b64decode(value["b64"])
    if value is None:
        return "" if dtype == "string" else math.nan
    return value


def _is_named_row(instance):
    """A row naming its inputs, as opposed to one bare (possibly b64) value."""
    return isinstance(instance, dict) and set(instance) != {"b64"}


def _jsonable(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


class ModelService:
    """The loaded SavedModel and the TF Serving predict semantics over it."""

    def __init__(self, model_dir, name, version):
        import tensorflow as tf

        self.tf = tf
        self.name = name
        self.version = version
        self.model = tf.saved_model.load(model_dir)
        self.signatures = dict(self.model.signatures)

    def inputs(self, signature_name):
        _, kwargs = self.signatures[signature_name].structured_input_signature
        return kwargs

    def metadata(self):
        def spec(tensor_spec):
            return {"dtype": tensor_spec.dtype.name, "shape": tensor_spec.shape.as_list()}

        return {
            "model_spec": {"name": self.name, "version": str(self.version)},
            "metadata": {
                "signature_def": {
                    name: {
                        "inputs": {k: spec(v) for k, v in self.inputs(name).items()},
                        "outputs": {k: spec(v) for k, v in fn.structured_outputs.items()},
                    }
                    for name, fn in self.signatures.items()
                }
            },
        }

    def predict(self, body):
        tf = self.tf
        signature_name = body.get("signature_name", "serving_default")
        if signature_name not in self.signatures:
            raise KeyError(f"unknown signature {signature_name!r}")
        specs = self.inputs(signature_name)
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances:
            raise ValueError("'instances' must be a non-empty list")
        if len(specs) == 1 and not _is_named_row(instances[0]):
            (only,) = specs
            instances = [{only: value} for value in instances]
        columns = {}
        for key, spec in specs.items():
            try:
                values = [_decode(row[key], spec.dtype.name) for row in instances]
            except KeyError:
                raise ValueError(f"instance is missing input {key!r}") from None
            columns[key] = tf.constant(values, dtype=spec.dtype)
        outputs = self.signatures[signature_name](**columns)
        outputs = {k: v.numpy().tolist() for k, v in outputs.items()}
        return {
            "predictions": [
                {k: _jsonable(v[i]) for k, v in outputs.items()} for i in range(len(instances))
            ]
        }


def _handler(service):
    prefix = f"/v1/models/{service.name}"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _reply(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == prefix:
                status = {"version": str(service.version), "state": "AVAILABLE"}
                self._reply(200, {"model_version_status": [status]})
            elif self.path == prefix + "/metadata":
                self._reply(200, service.metadata())
            else:
                self._reply(404, {"error": f"no such path {self.path}"})

        def do_POST(self):
            if self.path != prefix + ":predict":
                self._reply(404, {"error": f"no such path {self.path}"})
                return
            try:
                length = int(self.headers.get("Content-Length", 0))
                self._reply(200, service.predict(json.loads(self.rfile.read(length))))
            except Exception as e:  # the client gets the error, the server lives on
                self._reply(400, {"error": f"{type(e).__name__}: {e}"})

    return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, help="SavedModel directory to serve")
    parser.add_argument("--model-name", default="model")
    parser.add_argument("--model-version", default="1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)

    start = time.monotonic()
    service = ModelService(args.model_dir, args.model_name, args.model_version)
    load_seconds = time.monotonic() - start
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(service))
    ready = {"event": "ready", "port": server.server_port, "load_seconds": load_seconds}
    print(json.dumps(ready), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
