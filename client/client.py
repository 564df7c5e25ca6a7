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
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
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


class TranslationClient:
    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float | None = None,
        channel: grpc.Channel | None = None,
        token: str | None = None,
        tls: bool = False,
        tls_ca: str | os.PathLike | None = None,
        tls_cert: str | os.PathLike | None = None,
        tls_key: str | os.PathLike | None = None,
    ):
        """`target` is a gRPC target ("host:port", "dns:///name:port"); `timeout` is each call's deadline in seconds.

        TLS is on with `tls=True` or any of `tls_ca` (PEM roots to trust instead of the system's), `tls_cert` and
        `tls_key` (a client certificate, for mutual TLS); `token` goes with every call as
        `authorization: Bearer <token>`. CredentialsError when a file cannot be used.
        """
        if token is not None and (not token.strip() or not all(33 <= ord(c) <= 126 for c in token.strip())):
            raise CredentialsError("the token must be printable ASCII without spaces")
        self._metadata = (("authorization", f"Bearer {token.strip()}"),) if token else None
        options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
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
