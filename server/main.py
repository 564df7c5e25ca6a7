"""`alinea-server`: load the models, serve Translation, health and reflection.

Prints one line, "alinea-server listening on HOST:PORT", once it accepts
calls (tests and scripts wait for it). SIGTERM or Ctrl-C: health turns
NOT_SERVING, new calls are refused, running calls get the grace period to
finish, then the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from alinea.server.config import ServerConfig, parse_args
from alinea.server.registry import ModelError, ModelRegistry, shipped_model_root
from alinea.server.service import TranslationService
from alinea.server.translate import TranslatorSettings
from alinea.v1 import translation_pb2, translation_pb2_grpc

log = logging.getLogger("alinea.server")

SERVICE_NAME = translation_pb2.DESCRIPTOR.services_by_name["Translation"].full_name


def build_server(config: ServerConfig, registry: ModelRegistry) -> tuple[grpc.Server, health.HealthServicer, int]:
    """A started-ready server (not yet started), its health servicer and the bound port."""
    # Room for the largest accepted document in UTF-8, plus the message around it.
    max_message = 4 * config.max_request_chars + (1 << 20)
    server = grpc.server(
        # Translation calls are capped by the service's slots; the extra
        # workers keep health checks and ListModels answering under load.
        futures.ThreadPoolExecutor(max_workers=config.max_concurrent_requests + 4, thread_name_prefix="alinea-rpc"),
        options=[
            ("grpc.max_receive_message_length", max_message),
            ("grpc.max_send_message_length", 4 * max_message),
        ],
    )
    translation_pb2_grpc.add_TranslationServicer_to_server(TranslationService(registry, config), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    host = f"[{config.host}]" if ":" in config.host else config.host
    port = server.add_insecure_port(f"{host}:{config.port}")
    if port == 0:
        raise OSError(f"cannot listen on {host}:{config.port}")
    return server, health_servicer, port


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    roots = ([shipped_model_root()] if config.shipped_models else []) + list(config.model_dirs)
    settings = TranslatorSettings(inter_threads=config.inter_threads, intra_threads=config.intra_threads)
    try:
        registry = ModelRegistry.load(roots, settings)
        server, health_servicer, port = build_server(config, registry)
    except (ModelError, OSError) as exc:
        print(f"alinea-server: {exc}", file=sys.stderr)
        return 2
    for model in registry.models:
        if model.manifest.test_only:
            log.warning("model %s has random weights, for tests only: its translations are noise", model.manifest.name)

    server.start()
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    print(f"alinea-server listening on {config.host}:{port}", flush=True)

    stopping = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        if stopping.is_set():
            return
        stopping.set()
        log.info("signal %s: refusing new calls, %ss for running ones", signal.Signals(signum).name, config.grace_period)
        health_servicer.enter_graceful_shutdown()
        server.stop(config.grace_period)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.wait_for_termination()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
