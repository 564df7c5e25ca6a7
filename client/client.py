"""A small typed client for alinea.v1.Translation.

    with TranslationClient("localhost:50051") as client:
        response = client.translate("Bonjour.", source_language="fr", target_language="en")
        for segment in response.segments:
            print(segment.source_text, "→", segment.target_text)

Messages are the generated protobuf classes (typed through their .pyi
stubs); failures raise grpc.RpcError with the server's status code and
message.

A server with TLS and tokens:

    TranslationClient("mt.example.org:443", tls_ca="ca.pem", token=os.environ["ALINEA_TOKEN"])

(`tls=True` alone trusts the system's root certificates; `tls_cert` and
`tls_key` add a client certificate for mutual TLS.)

Several replicas: give a list of addresses (or a comma-separated string),
or a `dns:///` name whose A records are the replicas; calls are spread over
them with gRPC's round_robin policy, and a call refused with UNAVAILABLE (a
replica down, starting or draining) is sent again, to the next replica:

    TranslationClient(["10.0.0.5:50051", "10.0.0.6:50051", "10.0.0.7:50051"])
    TranslationClient("dns:///alinea.mt.svc.cluster.local:50051")
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from alinea.v1 import translation_pb2 as pb
from alinea.v1 import translation_pb2_grpc as pb_grpc

DEFAULT_TARGET = os.environ.get("ALINEA_SERVER", "localhost:50051")


ENTITY_MODES = {"preserve": pb.ENTITY_MODE_PRESERVE, "report": pb.ENTITY_MODE_REPORT, "off": pb.ENTITY_MODE_OFF}


@dataclass(frozen=True)
class Options:
    """Per-request translation options; None keeps the server's default.

    `entities`: "preserve" (check and repair), "report" (check only) or
    "off"; `glossary` maps source terms to the target form to enforce ("" keeps
    the term verbatim).
    """

    beam_size: int | None = None
    word_alignment: bool | None = None
    entities: str | None = None
    glossary: dict[str, str] | None = None

    def to_proto(self) -> pb.TranslationOptions:
        options = pb.TranslationOptions(beam_size=self.beam_size or 0)
        if self.word_alignment is not None:
            options.word_alignment = self.word_alignment
        if self.entities is not None:
            if self.entities not in ENTITY_MODES:
                raise ValueError(f"entities must be one of {', '.join(ENTITY_MODES)}, not {self.entities!r}")
            options.entities = ENTITY_MODES[self.entities]
        for source, target in (self.glossary or {}).items():
            options.glossary.add(source=source, target=target)
        return options


class CredentialsError(ValueError):
    """A TLS file or token the client cannot use; the message names the file, never the token."""


def _read_pem(path: str | os.PathLike, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CredentialsError(f"{what} {path}: cannot read: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in data:
        raise CredentialsError(f"{what} {path}: not a PEM file (no '-----BEGIN' line)")
    return data


def tls_credentials(
    ca: str | os.PathLike | None = None, cert: str | os.PathLike | None = None, key: str | os.PathLike | None = None
) -> grpc.ChannelCredentials:
    """Channel credentials: trust `ca` (default: the system's roots); `cert` and `key`, together, for mutual TLS."""
    if bool(cert) != bool(key):
        raise CredentialsError("--tls-cert and --tls-key go together")
    return grpc.ssl_channel_credentials(
        root_certificates=_read_pem(ca, "--tls-ca") if ca else None,
        private_key=_read_pem(key, "--tls-key") if key else None,
        certificate_chain=_read_pem(cert, "--tls-cert") if cert else None,
    )


# Every alinea.v1.Translation method only computes an answer (nothing is
# stored or changed on the server), so each is safe to send again. gRPC
# retries a call only while no response has arrived, i.e. when the replica
# refused it or died before answering; the retry goes through the load
# balancer, so to another replica under round_robin.
RETRY_ATTEMPTS = 5
RETRY_POLICY = {
    "maxAttempts": RETRY_ATTEMPTS,
    "initialBackoff": "0.1s",
    "maxBackoff": "1s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
SERVICE_NAME = "alinea.v1.Translation"


def service_config(load_balancing: str, retries: bool = True) -> str:
    """The channel's service config: its load-balancing policy and the retry policy, as JSON."""
    config: dict = {"loadBalancingConfig": [{load_balancing: {}}]}
    if retries:
        config["methodConfig"] = [{"name": [{"service": SERVICE_NAME}], "retryPolicy": RETRY_POLICY}]
    return json.dumps(config)


def _split_host_port(address: str) -> tuple[str, str]:
    host, sep, port = address.strip().rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"address {address.strip()!r} is not HOST:PORT")
    return host.strip("[]"), port


def channel_target(target: str | Sequence[str]) -> tuple[str, str | None]:
    """(gRPC target, authority) for one target or several addresses.

    One target is passed through ("host:port", "dns:///name:port", "ipv4:...").
    Several ("a:1,b:2", or a list) become one "ipv4:" (or "ipv6:") target
    listing every address, host names resolved now; the authority (for TLS
    host name checks) is then the first address as given. ValueError when
    an address is malformed, cannot be resolved, or IPv4 and IPv6 are mixed.
    """
    items = [t.strip() for t in (target.split(",") if isinstance(target, str) else target) if t.strip()]
    if not items:
        raise ValueError("no server address given")
    if len(items) == 1:
        return items[0], None
    v4: list[str] = []
    v6: list[str] = []
    for item in items:
        host, port = _split_host_port(item)
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                raise ValueError(f"cannot resolve {host!r}: {exc.strerror}") from None
            addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
            # A name with IPv4 addresses is reached over IPv4, like the other names.
            if any(a.version == 4 for a in addresses):
                addresses = [a for a in addresses if a.version == 4]
        for address in addresses:
            (v4 if address.version == 4 else v6).append(f"{address}:{port}" if address.version == 4 else f"[{address}]:{port}")
    if v4 and v6:
        raise ValueError("the addresses mix IPv4 and IPv6; give addresses of one family, or a dns:/// name")
    listed = ",".join(dict.fromkeys(v4 or v6))
    return ("ipv4:" if v4 else "ipv6:") + listed, items[0]


class TranslationClient:
    def __init__(
        self,
        target: str | Sequence[str] = DEFAULT_TARGET,
        *,
        timeout: float | None = None,
        channel: grpc.Channel | None = None,
        token: str | None = None,
        tls: bool = False,
        tls_ca: str | os.PathLike | None = None,
        tls_cert: str | os.PathLike | None = None,
        tls_key: str | os.PathLike | None = None,
        load_balancing: str | None = None,
        retries: bool = True,
    ):
        """`target` is a gRPC target ("host:port", "dns:///name:port"), or several addresses (a list, or
        "host:port,host:port"); `timeout` is each call's deadline in seconds.

        `load_balancing` is gRPC's policy: by default "round_robin" for several addresses or a "dns:///"
        target (every address the name resolves to), "pick_first" otherwise. `retries`: calls refused with
        UNAVAILABLE are sent again (up to RETRY_ATTEMPTS tries in all, with backoff). ValueError when an
        address cannot be used.

        TLS is on with `tls=True` or any of `tls_ca` (PEM roots to trust instead of the system's), `tls_cert` and
        `tls_key` (a client certificate, for mutual TLS); `token` goes with every call as
        `authorization: Bearer <token>`. CredentialsError when a file cannot be used.
        """
        if token is not None and (not token.strip() or not all(33 <= ord(c) <= 126 for c in token.strip())):
            raise CredentialsError("the token must be printable ASCII without spaces")
        self._metadata = (("authorization", f"Bearer {token.strip()}"),) if token else None
        options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
        if channel is None:
            target, authority = channel_target(target)
            if load_balancing is None:
                several = target.startswith(("ipv4:", "ipv6:")) and "," in target
                load_balancing = "round_robin" if several or target.startswith("dns:") else "pick_first"
            options += [("grpc.service_config", service_config(load_balancing, retries)),
                        ("grpc.enable_retries", 1 if retries else 0)]
            if authority is not None:
                options.append(("grpc.default_authority", authority))
        if channel is None and (tls or tls_ca or tls_cert or tls_key):
            channel = grpc.secure_channel(target, tls_credentials(tls_ca, tls_cert, tls_key), options=options)
        self._channel = channel or grpc.insecure_channel(target, options=options)
        self._stub = pb_grpc.TranslationStub(self._channel)
        self.timeout = timeout

    def __enter__(self) -> "TranslationClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def wait_until_ready(self, timeout: float) -> None:
        """Block until the server accepts connections; grpc.FutureTimeoutError after `timeout` seconds."""
        grpc.channel_ready_future(self._channel).result(timeout=timeout)

    @staticmethod
    def request(
        text: str,
        *,
        source_language: str = "",
        target_language: str = "en",
        model: str = "",
        options: Options = Options(),
        document_id: str = "",
    ) -> pb.TranslateDocumentRequest:
        return pb.TranslateDocumentRequest(
            text=text,
            source_language_code=source_language,
            target_language_code=target_language,
            model=model,
            options=options.to_proto(),
            document_id=document_id,
        )

    def translate(self, text: str, **kwargs) -> pb.TranslateDocumentResponse:
        """Translate one document; keyword arguments as for `request()`."""
        return self._stub.TranslateDocument(self.request(text, **kwargs), timeout=self.timeout, metadata=self._metadata)

    def stream(self, text: str, **kwargs) -> Iterator[pb.Segment]:
        """Segments of one document, in order, as the server finishes them."""
        return self._stub.StreamTranslateDocument(self.request(text, **kwargs), timeout=self.timeout, metadata=self._metadata)

    def translate_many(self, requests: Iterable[pb.TranslateDocumentRequest]) -> Iterator[pb.TranslateDocumentResponse]:
        """Many documents over one call; responses come in request order, failures carry `error`."""
        return self._stub.TranslateDocuments(iter(requests), timeout=self.timeout, metadata=self._metadata)

    def list_models(self, source_language: str = "", target_language: str = "") -> list[pb.Model]:
        request = pb.ListModelsRequest(source_language_code=source_language, target_language_code=target_language)
        return list(self._stub.ListModels(request, timeout=self.timeout, metadata=self._metadata).models)
