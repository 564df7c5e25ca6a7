"""Server settings: one record, filled from flags, then environment, then defaults."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "ALINEA_"


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 50051
    # Extra model directories, searched after the shipped models.
    model_dirs: tuple[Path, ...] = ()
    # Cores CTranslate2 uses per batch (0: all) and batches run at once.
    intra_threads: int = 0
    inter_threads: int = 1
    beam_size: int = 4
    # Largest document accepted, in characters (code points).
    max_request_chars: int = 100_000
    # Calls served at once; further calls get RESOURCE_EXHAUSTED.
    max_concurrent_requests: int = 16
    # Seconds given to running calls on SIGTERM.
    grace_period: float = 30.0
    log_level: str = "INFO"
    # Also serve the models shipped in the package (models/).
    shipped_models: bool = True


def _env(name: str, default: str) -> str:
    return os.environ.get(ENV_PREFIX + name, default)


def parse_args(argv: list[str] | None = None) -> ServerConfig:
    d = ServerConfig()
    p = argparse.ArgumentParser(
        prog="alinea-server",
        description="Serve alinea.v1.Translation over gRPC. Every flag can also be set "
        "through the environment variable shown in brackets.",
    )
    p.add_argument("--host", default=_env("HOST", d.host), help="address to listen on [ALINEA_HOST] (default %(default)s)")
    p.add_argument("--port", type=int, default=int(_env("PORT", str(d.port))),
                   help="port; 0 picks a free one and prints it [ALINEA_PORT] (default %(default)s)")
    p.add_argument("--model-dir", action="append", type=Path, default=None,
                   help="a model directory, or a folder of them; repeatable [ALINEA_MODEL_DIR, "
                   f"'{os.pathsep}'-separated]")
    p.add_argument("--no-shipped-models", action="store_true",
                   help="serve only the --model-dir models, not the ones shipped with alinea")
    p.add_argument("--threads", type=int, default=int(_env("THREADS", str(d.intra_threads))),
                   help="CPU threads per translation batch, 0 for all cores [ALINEA_THREADS] (default %(default)s)")
    p.add_argument("--inter-threads", type=int, default=int(_env("INTER_THREADS", str(d.inter_threads))),
                   help="translation batches run in parallel [ALINEA_INTER_THREADS] (default %(default)s)")
    p.add_argument("--beam-size", type=int, default=int(_env("BEAM_SIZE", str(d.beam_size))),
                   help="default beam size [ALINEA_BEAM_SIZE] (default %(default)s)")
    p.add_argument("--max-request-chars", type=int, default=int(_env("MAX_REQUEST_CHARS", str(d.max_request_chars))),
                   help="largest document accepted, in characters [ALINEA_MAX_REQUEST_CHARS] (default %(default)s)")
    p.add_argument("--max-concurrent-requests", type=int,
                   default=int(_env("MAX_CONCURRENT_REQUESTS", str(d.max_concurrent_requests))),
                   help="calls served at once; more get RESOURCE_EXHAUSTED [ALINEA_MAX_CONCURRENT_REQUESTS] "
                   "(default %(default)s)")
    p.add_argument("--grace-period", type=float, default=float(_env("GRACE_PERIOD", str(d.grace_period))),
                   help="seconds running calls get to finish on SIGTERM [ALINEA_GRACE_PERIOD] (default %(default)s)")
    p.add_argument("--log-level", default=_env("LOG_LEVEL", d.log_level), help="[ALINEA_LOG_LEVEL] (default %(default)s)")
    args = p.parse_args(argv)

    model_dirs = args.model_dir
    if model_dirs is None:
        model_dirs = [Path(x) for x in _env("MODEL_DIR", "").split(os.pathsep) if x]
    if not 1 <= args.beam_size <= 16:
        p.error("--beam-size must be between 1 and 16")
    if args.max_request_chars < 1 or args.max_concurrent_requests < 1:
        p.error("--max-request-chars and --max-concurrent-requests must be positive")
    return ServerConfig(
        host=args.host,
        port=args.port,
        model_dirs=tuple(model_dirs),
        intra_threads=args.threads,
        inter_threads=args.inter_threads,
        beam_size=args.beam_size,
        max_request_chars=args.max_request_chars,
        max_concurrent_requests=args.max_concurrent_requests,
        grace_period=args.grace_period,
        log_level=args.log_level.upper(),
        shipped_models=not args.no_shipped_models,
    )
