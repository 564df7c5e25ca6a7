"""Server settings: one record, filled from flags, then environment, then defaults.

Each field of ServerConfig is a flag (`--max-request-chars`) and an
environment variable (`ALINEA_MAX_REQUEST_CHARS`); the flag wins. Adding a
setting is adding a field.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from alinea.server.translate import available_cores

ENV_PREFIX = "ALINEA_"


def setting(default, help: str, flag: str | None = None, *, env_only: bool = False, secret: bool = False):
    """A field of ServerConfig. `env_only`: no flag (secrets on a command line are visible to every local
    user in `ps`); `secret`: left out of the record's repr, so it cannot end up in a log."""
    return field(default=default, repr=not secret, metadata={"help": help, "flag": flag, "env_only": env_only})


@dataclass(frozen=True)
class ServerConfig:
    host: str = setting("127.0.0.1", "address to listen on")
    port: int = setting(50051, "port; 0 picks a free one and prints it")
    model_dirs: tuple[Path, ...] = setting(
        (), f"a model directory, or a folder of them; repeatable (environment: '{os.pathsep}'-separated)", "--model-dir"
    )
    shipped_models: bool = setting(True, "serve only the --model-dir models, not those shipped with alinea")
    # One batch per core, one thread each (see TranslatorSettings).
    intra_threads: int = setting(1, "CPU threads per translation batch, 0 for all cores", "--threads")
    inter_threads: int = setting(available_cores(), "translation batches run in parallel (default: one per core)")
    beam_size: int = setting(4, "default beam size, 1-16")
    vocabulary_map: bool = setting(
        True, "score only each batch's candidate target pieces, for models with a vmap.txt (see alinea.models.vmap)"
    )
    max_request_chars: int = setting(100_000, "largest document accepted, in characters; larger ones get INVALID_ARGUMENT")
    max_request_sentences: int = setting(5_000, "most sentences in one document; more get INVALID_ARGUMENT")
    max_concurrent_requests: int = setting(16, "translation calls served at once; more get RESOURCE_EXHAUSTED")
    max_queued_sentences: int = setting(
        20_000, "sentences waiting for translation, all calls together; a call that would exceed it gets RESOURCE_EXHAUSTED"
    )
    max_batch_tokens: int = setting(2_048, "source tokens per CTranslate2 batch; sentences of concurrent calls share batches")
    batch_wait_ms: float = setting(2.0, "milliseconds a batch waits for sentences of other calls before it starts")
    grace_period: float = setting(30.0, "seconds running calls get to finish on SIGTERM")
    log_level: str = setting("INFO", "DEBUG, INFO, WARNING or ERROR")
    log_format: str = setting("text", "text, or json for one JSON object per line")
    metrics_port: int = setting(0, "serve Prometheus metrics at http://HOST:PORT/metrics; 0: off")
    tls_cert: str = setting("", "PEM certificate chain: serve TLS instead of plaintext (needs --tls-key)")
    tls_key: str = setting("", "PEM private key of --tls-cert, unencrypted")
    tls_client_ca: str = setting("", "PEM CA bundle: mutual TLS, clients must present a certificate it signed")
    auth_token_file: str = setting(
        "", "file of accepted bearer tokens, one per line (# comments): every call but health needs one"
    )
    auth_tokens: str = setting("", "accepted bearer tokens, comma-separated", env_only=True, secret=True)

    def __post_init__(self) -> None:
        if not 1 <= self.beam_size <= 16:
            raise ValueError("beam size must be between 1 and 16")
        for name in ("max_request_chars", "max_request_sentences", "max_concurrent_requests", "max_queued_sentences",
                     "max_batch_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be positive")
        if self.grace_period < 0 or self.batch_wait_ms < 0 or self.intra_threads < 0 or self.inter_threads < 1:
            raise ValueError("grace-period, batch-wait-ms and threads must be >= 0, inter-threads >= 1")
        if self.log_format not in ("text", "json"):
            raise ValueError("log-format must be text or json")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
        if self.tls_client_ca and not self.tls_cert:
            raise ValueError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")


def _flag(f: dataclasses.Field) -> str:
    return f.metadata["flag"] or "--" + f.name.replace("_", "-")


def _env_name(f: dataclasses.Field) -> str:
    return ENV_PREFIX + _flag(f)[2:].replace("-", "_").upper()


class _EnvOnly(argparse.Action):
    def __init__(self, *args, env: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.env = env

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is not a flag, set {self.env} instead (a command line is visible in `ps`)")


def parse_args(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> ServerConfig:
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="alinea-server",
        description="Serve alinea.v1.Translation over gRPC, with health checking and reflection. "
        "Every flag can also be set by the environment variable shown in brackets.",
    )
    env_only = []
    for f in dataclasses.fields(ServerConfig):
        env = _env_name(f)
        help_text = f"{f.metadata['help']} [{env}]"
        if f.metadata["env_only"]:
            env_only.append(f"{env} ({f.metadata['help']})")
            # Not a flag, but recognised, so that argparse does not echo the value as an unrecognized argument.
            parser.add_argument(_flag(f), nargs="?", action=_EnvOnly, env=env, help=argparse.SUPPRESS)
        elif isinstance(f.default, bool):
            parser.add_argument("--no-" + _flag(f)[2:], dest=f.name, action="store_false", default=None, help=help_text)
        elif isinstance(f.default, tuple):
            parser.add_argument(_flag(f), dest=f.name, action="append", type=Path, default=None, metavar="PATH",
                                help=help_text)
        else:
            parser.add_argument(_flag(f), dest=f.name, type=type(f.default), default=None,
                                metavar=_flag(f)[2:].upper().replace("-", "_"),
                                help=f"{help_text} (default {f.default})" if f.default != "" else help_text)
    if env_only:  # secrets: a command line is visible to every local user in `ps`
        parser.epilog = "Only in the environment: " + "; ".join(env_only) + "."
    args = parser.parse_args(argv)

    values = {}
    for f in dataclasses.fields(ServerConfig):
        value = getattr(args, f.name, None)
        if value is None and _env_name(f) in environ:
            raw = environ[_env_name(f)]
            try:
                if isinstance(f.default, bool):
                    value = raw.strip().lower() in ("1", "true", "yes", "on")
                elif isinstance(f.default, tuple):
                    value = [Path(p) for p in raw.split(os.pathsep) if p]
                else:
                    value = type(f.default)(raw)
            except ValueError:
                parser.error(f"{_env_name(f)}={raw!r} is not a valid {type(f.default).__name__}")
        if value is not None:
            values[f.name] = tuple(value) if isinstance(f.default, tuple) else value
    if "log_level" in values:
        values["log_level"] = values["log_level"].upper()
    try:
        return ServerConfig(**values)
    except ValueError as exc:
        parser.error(str(exc))
