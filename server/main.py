"""`alinea-server`: load the models, serve Translation, health and reflection.

With --tls-cert/--tls-key it serves TLS (with --tls-client-ca, mutual TLS);
with --auth-token-file or ALINEA_AUTH_TOKENS every call but health needs a
bearer token (see alinea.server.auth and docs/operations.md).

Prints one line, "alinea-server listening on HOST:PORT", once it accepts
calls (tests and scripts wait for it). SIGTERM or Ctrl-C: health turns
NOT_SERVING, new calls are refused, running calls get the grace period to
finish, then the process exits 0.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from alinea.server import logs, metrics
from alinea.server.auth import Security, SecurityError, TokenAuthInterceptor, is_loopback, load_security
from alinea.server.config import ServerConfig, parse_args
from alinea.server.registry import ModelError, ModelRegistry, shipped_model_root
from alinea.server.service import TranslationService
from alinea.server.translate import TranslatorSettings
from alinea.v1 import translation_pb2, translation_pb2_grpc

# Allocations between two young-generation collections (Python's default is 700).
GC_THRESHOLD = 20_000

log = logging.getLogger("alinea.server")

SERVICE_NAME = translation_pb2.DESCRIPTOR.services_by_name["Translation"].full_name


def build_server(
    config: ServerConfig, registry: ModelRegistry, security: Security | None = None
) -> tuple[grpc.Server, health.HealthServicer, int]:
    """A started-ready server (not yet started), its health servicer and the bound port.

    `security` defaults to what `config` names (SecurityError if a file is unusable).
    """
    if security is None:
        security = load_security(config)
    # Room for the largest accepted document in UTF-8 plus the message around
    # it, and at least 16 MiB, so that most oversized documents still reach
    # the size check and get INVALID_ARGUMENT with the limit; beyond this,
    # gRPC itself answers RESOURCE_EXHAUSTED.
    max_message = max(4 * config.max_request_chars + (1 << 20), 16 << 20)
    server = grpc.server(
        # Translation calls are capped by the service's slots; the extra
        # workers keep health checks and ListModels answering under load.
        futures.ThreadPoolExecutor(max_workers=config.max_concurrent_requests + 4, thread_name_prefix="alinea-rpc"),
        options=[
            ("grpc.max_receive_message_length", max_message),
            ("grpc.max_send_message_length", 4 * max_message),
        ],
        interceptors=[TokenAuthInterceptor(security.tokens)] if security.tokens else None,
    )
    translation_pb2_grpc.add_TranslationServicer_to_server(TranslationService(registry, config), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    host = f"[{config.host}]" if ":" in config.host else config.host
    address = f"{host}:{config.port}"
    if security.credentials is not None:
        port = server.add_secure_port(address, security.credentials)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {host}:{config.port}")
    return server, health_servicer, port


def _log_security(config: ServerConfig, security: Security) -> None:
    transport = "plaintext" if security.credentials is None else "mutual TLS" if security.mutual_tls else "TLS"
    auth = f"bearer tokens ({len(security.tokens)} accepted)" if security.tokens else "no authentication"
    log.info("serving %s, %s", transport, auth)
    if security.tokens and security.credentials is None and not is_loopback(config.host):
        log.warning("token authentication without TLS on %s: tokens and documents cross the network in clear text; "
                    "set --tls-cert and --tls-key", config.host)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    logs.configure(config.log_level, config.log_format)
    roots = ([shipped_model_root()] if config.shipped_models else []) + list(config.model_dirs)
    settings = TranslatorSettings(inter_threads=config.inter_threads, intra_threads=config.intra_threads,
                                  vocabulary_map=config.vocabulary_map)
    try:
        security = load_security(config)  # before the models: a bad file should fail in a second, not a minute
        registry = ModelRegistry.load(roots, settings)
        server, health_servicer, port = build_server(config, registry, security)
        if config.metrics_port:
            metrics.serve(config.host, config.metrics_port)
    except (SecurityError, ModelError, OSError) as exc:
        print(f"alinea-server: {exc}", file=sys.stderr)
        return 2
    _log_security(config, security)
    for model in registry.models:
        if model.manifest.test_only:
            log.warning("model %s has random weights, for tests only: its translations are noise", model.manifest.name)

    # Models, tokenizers and spaCy are loaded: some 250,000 objects that live as long as the process. Frozen,
    # they are out of the collector's reach, and a full collection scans only what requests left behind. It
    # holds the GIL, stalling every call in flight: at concurrency 16, ~45 ms each instead of ~140 ms.
    gc.freeze()
    # A call allocates thousands of short-lived container objects (the attention CTranslate2 returns is lists
    # of lists), freed as soon as the call ends. At the default threshold of 700 the collector scans them
    # several times per call while they are still alive; at 20,000 most are freed before a scan sees them.
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
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
