"""A small typed client for alinea.v1.Translation.

    with TranslationClient("localhost:50051") as client:
        response = client.translate("Bonjour.", source_language="fr", target_language="en")
        for segment in response.segments:
            print(segment.source_text, "→", segment.target_text)

Messages are the generated protobuf classes (typed through their .pyi
stubs); failures raise grpc.RpcError with the server's status code and
message.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import grpc

from alinea.v1 import translation_pb2 as pb
from alinea.v1 import translation_pb2_grpc as pb_grpc

DEFAULT_TARGET = os.environ.get("ALINEA_SERVER", "localhost:50051")


@dataclass(frozen=True)
class Options:
    """Per-request translation options; None keeps the server's default."""

    beam_size: int | None = None
    word_alignment: bool | None = None

    def to_proto(self) -> pb.TranslationOptions:
        options = pb.TranslationOptions(beam_size=self.beam_size or 0)
        if self.word_alignment is not None:
            options.word_alignment = self.word_alignment
        return options


class TranslationClient:
    def __init__(self, target: str = DEFAULT_TARGET, *, timeout: float | None = None, channel: grpc.Channel | None = None):
        """`target` is a gRPC target ("host:port", "dns:///name:port"); `timeout` is each call's deadline in seconds."""
        self._channel = channel or grpc.insecure_channel(
            target, options=[("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
        )
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
        return self._stub.TranslateDocument(self.request(text, **kwargs), timeout=self.timeout)

    def stream(self, text: str, **kwargs) -> Iterator[pb.Segment]:
        """Segments of one document, in order, as the server finishes them."""
        return self._stub.StreamTranslateDocument(self.request(text, **kwargs), timeout=self.timeout)

    def translate_many(self, requests: Iterable[pb.TranslateDocumentRequest]) -> Iterator[pb.TranslateDocumentResponse]:
        """Many documents over one call; responses come in request order, failures carry `error`."""
        return self._stub.TranslateDocuments(iter(requests), timeout=self.timeout)

    def list_models(self, source_language: str = "", target_language: str = "") -> list[pb.Model]:
        request = pb.ListModelsRequest(source_language_code=source_language, target_language_code=target_language)
        return list(self._stub.ListModels(request, timeout=self.timeout).models)
