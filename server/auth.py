"""Transport security and token authentication for alinea-server.

TLS: `server_credentials()` turns --tls-cert/--tls-key (and --tls-client-ca
for mutual TLS) into gRPC server credentials, after checking that the files
can be read, hold PEM, and that the key matches the certificate; a bad file
stops the server at start-up with a message instead of failing every
handshake later.

Tokens: `TokenAuthInterceptor` requires `authorization: Bearer <token>`
metadata on every call except grpc.health.v1.Health (load balancers and
orchestrators probe health without credentials). Server reflection needs a
token too: it is an RPC like any other. Tokens are compared in constant time
against every configured token, and are never logged nor echoed back.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import grpc

from alinea.server.config import ServerConfig

log = logging.getLogger("alinea.server.auth")

# Calls that need no token: health checks, so that probes work unchanged.
PUBLIC_PREFIXES = ("/grpc.health.v1.Health/",)

MISSING_TOKEN = "missing `authorization: Bearer <token>` metadata"
INVALID_TOKEN = "invalid token"
SHORT_TOKEN = 16


class SecurityError(Exception):
    """A TLS or token setting that cannot be used; the message says which and why, never a token."""


@dataclass(frozen=True)
class Security:
    """What build_server needs: TLS credentials (None: plaintext) and the accepted tokens (empty: no auth)."""

    credentials: grpc.ServerCredentials | None = None
    tokens: tuple[str, ...] = ()
    mutual_tls: bool = False

    def __repr__(self) -> str:  # never show the tokens
        return f"Security(tls={self.credentials is not None}, mutual_tls={self.mutual_tls}, tokens={len(self.tokens)})"


def load_security(config: ServerConfig) -> Security:
    """Read and check the TLS files and tokens named by `config`; SecurityError if any is unusable."""
    tokens = load_tokens(config.auth_token_file, config.auth_tokens)
    credentials = server_credentials(config.tls_cert, config.tls_key, config.tls_client_ca) if config.tls_cert else None
    return Security(credentials, tokens, bool(config.tls_client_ca))


# --- TLS ---------------------------------------------------------------------


def _read(path: str, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SecurityError(f"{what} {path}: cannot read: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in data:
        raise SecurityError(f"{what} {path}: not a PEM file (no '-----BEGIN' line)")
    return data


def _no_passphrase() -> bytes:
    # Without this, OpenSSL would prompt on the terminal for an encrypted key: a hang under a supervisor.
    raise SecurityError("encrypted")


def server_credentials(cert: str, key: str, client_ca: str = "") -> grpc.ServerCredentials:
    """gRPC credentials for a certificate chain and its key; with `client_ca`, clients must present a certificate it signed."""
    cert_pem = _read(cert, "--tls-cert")
    key_pem = _read(key, "--tls-key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except SecurityError:
        raise SecurityError(f"--tls-key {key}: the key is encrypted; gRPC needs an unencrypted PEM key "
                            "(readable only by the server's user)") from None
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise SecurityError(f"--tls-key {key} does not match the certificate in --tls-cert {cert}") from None
        raise SecurityError(f"--tls-cert {cert} / --tls-key {key}: not a usable PEM certificate chain and "
                            f"private key ({exc.reason or exc})") from None
    ca_pem = None
    if client_ca:
        ca_pem = _read(client_ca, "--tls-client-ca")
        try:
            context.load_verify_locations(cafile=client_ca)
        except ssl.SSLError as exc:
            raise SecurityError(f"--tls-client-ca {client_ca}: no usable PEM certificate ({exc.reason or exc})") from None
    return grpc.ssl_server_credentials(
        [(key_pem, cert_pem)], root_certificates=ca_pem, require_client_auth=ca_pem is not None
    )


# --- Tokens ------------------------------------------------------------------


def _check_token(token: str, where: str) -> str:
    # gRPC metadata values are printable ASCII; anything else could never be sent by a client.
    if not all(33 <= ord(c) <= 126 for c in token):
        raise SecurityError(f"{where}: a token must be printable ASCII without spaces")
    return token


def load_tokens(token_file: str = "", tokens: str = "") -> tuple[str, ...]:
    """Tokens from a file (one per line; blank lines and # comments skipped) and a comma-separated string."""
    found: list[str] = []
    if token_file:
        try:
            text = Path(token_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
            raise SecurityError(f"--auth-token-file {token_file}: cannot read: {reason}") from None
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if line and not line.startswith("#"):
                found.append(_check_token(line, f"--auth-token-file {token_file}, line {number}"))
        if not found:
            raise SecurityError(f"--auth-token-file {token_file}: no tokens in it (one per line, # for comments)")
    for number, token in enumerate(tokens.split(","), 1):
        token = token.strip()
        if token:
            found.append(_check_token(token, f"ALINEA_AUTH_TOKENS, token {number}"))
    if any(len(t) < SHORT_TOKEN for t in found):
        log.warning("a token is shorter than %d characters; use long random ones (openssl rand -hex 32)", SHORT_TOKEN)
    return tuple(dict.fromkeys(found))


def _digest(token: str | bytes) -> bytes:
    # Hashing first makes every comparison the same length, so the time taken says nothing about token lengths.
    return hashlib.sha256(token.encode() if isinstance(token, str) else token).digest()


class TokenAuthInterceptor(grpc.ServerInterceptor):
    """UNAUTHENTICATED for any call without a valid bearer token, except the PUBLIC_PREFIXES methods."""

    def __init__(self, tokens: Iterable[str], public_prefixes: tuple[str, ...] = PUBLIC_PREFIXES):
        self._digests = tuple(_digest(t) for t in tokens)
        if not self._digests:
            raise ValueError("TokenAuthInterceptor needs at least one token")
        self._public = public_prefixes

    def _valid(self, presented: str | bytes) -> bool:
        digest = _digest(presented)
        valid = False
        for known in self._digests:  # no early exit: every token is compared on every call
            valid |= hmac.compare_digest(digest, known)
        return valid

    def check(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
        """None when the metadata carries a valid token, else the UNAUTHENTICATED message."""
        values = [value for key, value in metadata or () if key.lower() == "authorization"]
        if len(values) != 1:
            return MISSING_TOKEN if not values else INVALID_TOKEN
        value = values[0].decode("ascii", "replace") if isinstance(values[0], bytes) else values[0]
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return MISSING_TOKEN
        return None if self._valid(token.strip()) else INVALID_TOKEN

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails):
        method = handler_call_details.method
        if method.startswith(self._public):
            return continuation(handler_call_details)
        problem = self.check(handler_call_details.invocation_metadata)
        if problem is None:
            return continuation(handler_call_details)
        return _refusal(continuation(handler_call_details), method, problem)


def _refusal(handler: grpc.RpcMethodHandler | None, method: str, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same shape as the real one that ends the call with UNAUTHENTICATED."""

    def refuse(_request, context: grpc.ServicerContext):
        # Logged without the metadata: a wrong token may be a real one with a typo.
        (log.warning if message == INVALID_TOKEN else log.info)("refused %s from %s: %s", method, context.peer(), message)
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    if handler is None or not (handler.request_streaming or handler.response_streaming):
        return grpc.unary_unary_rpc_method_handler(refuse)
    kwargs = {"request_deserializer": None, "response_serializer": None}  # the request is never read
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse, **kwargs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse, **kwargs)
    return grpc.unary_stream_rpc_method_handler(refuse, **kwargs)


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
