"""An ML Metadata gRPC service on 127.0.0.1, backed by ml-metadata's own store.

KFP's driver and launcher talk to MLMD over gRPC (`metadata-grpc-service:8080` in a
cluster). No `metadata_store_server` binary installs here, but the ml-metadata wheel ships
the service definition and a store that executes serialized requests: this server routes
each MetadataStoreService call, as bytes, to that store's method of the same name. Nothing
is interpreted here, so the answers are the store's own. The three RPCs the store does not
execute (none of them used by KFP) answer UNIMPLEMENTED.

    python tests/kfp_backend/mlmd_server.py --db PATH.sqlite --port 8080
"""

from __future__ import annotations

import argparse
import sys
import threading
from concurrent import futures

import grpc
from ml_metadata.metadata_store.pywrap.metadata_store_extension import (
    metadata_store as serialized,
)
from ml_metadata.proto import metadata_store_pb2, metadata_store_service_pb2

SERVICE = metadata_store_service_pb2.DESCRIPTOR.services_by_name["MetadataStoreService"]
# ml-metadata's status codes are absl's, which are gRPC's.
_STATUS = {code.value[0]: code for code in grpc.StatusCode}


def _identity(data: bytes) -> bytes:
    return data


class _Forwarder(grpc.GenericRpcHandler):
    def __init__(self, store) -> None:
        self._store = store
        # The store is one SQLite connection: one call at a time, as the in-process client.
        self._lock = threading.Lock()
        self._methods = {
            f"/{SERVICE.full_name}/{method.name}": getattr(serialized, method.name, None)
            for method in SERVICE.methods
        }

    def service(self, handler_call_details):
        if handler_call_details.method not in self._methods:
            return None
        method = self._methods[handler_call_details.method]

        def call(request: bytes, context: grpc.ServicerContext) -> bytes:
            if method is None:
                context.abort(grpc.StatusCode.UNIMPLEMENTED, "not executed by ml-metadata's store")
            with self._lock:
                response, error, status = method(self._store, request)
            if status != 0:
                context.abort(_STATUS.get(status, grpc.StatusCode.UNKNOWN), error.decode())
            return response

        return grpc.unary_unary_rpc_method_handler(
            call, request_deserializer=_identity, response_serializer=_identity
        )


def serve(db_path: str, host: str = "127.0.0.1", port: int = 0) -> tuple[grpc.Server, int]:
    """Starts the service on `host:port` (0: any free port); returns it and its port."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = db_path
    sqlite = metadata_store_pb2.SqliteMetadataSourceConfig
    config.sqlite.connection_mode = sqlite.READWRITE_OPENCREATE
    store = serialized.CreateMetadataStore(
        config.SerializeToString(), metadata_store_pb2.MigrationOptions().SerializeToString()
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers([_Forwarder(store)])
    bound = server.add_insecure_port(f"{host}:{port}")
    server.start()
    return server, bound


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="SQLite file behind the service")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    args = parser.parse_args(argv)
    server, port = serve(args.db, port=args.port)
    print(f"mlmd listening on 127.0.0.1:{port}", flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
