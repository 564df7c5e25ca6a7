"""The alinea.v1.Translation gRPC service: validation, errors, proto conversion.

All translation work happens in the pipeline; this module turns requests
into pipeline calls and records into messages, and every failure into a
status code with a message that says what to change. Nothing a client
sends reaches it as a stack trace.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import threading
import uuid
from collections.abc import Callable, Iterator

import grpc
from google.rpc import status_pb2

from alinea.server.config import ServerConfig
from alinea.server.batcher import Batcher, Cancelled, QueueFull, Ticket
from alinea.server.pipeline import DocumentTooLong, Pipeline
from alinea.server.records import DocumentTranslation, Segment, Span, TranslationOptions
from alinea.server.registry import ModelNotFound, ModelRegistry, primary_subtag
from alinea.v1 import translation_pb2 as pb
from alinea.v1 import translation_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

MAX_BEAM_SIZE = 16


class RequestError(Exception):
    """A request that cannot be served as sent."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _rpc(method: Callable) -> Callable:
    """Map RequestError to its status and anything unexpected to INTERNAL with a request id."""

    def fail(context: grpc.ServicerContext, exc: Exception) -> None:
        if isinstance(exc, RequestError):
            context.abort(exc.code, exc.message)
        request_id = uuid.uuid4().hex[:12]
        log.exception("request %s: %s failed", request_id, method.__name__)
        context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {request_id}); the server log has details")

    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def streaming(self, request, context):
            try:
                yield from method(self, request, context)
            except Exception as exc:  # noqa: BLE001 - the boundary to the client
                fail(context, exc)

        return streaming

    @functools.wraps(method)
    def unary(self, request, context):
        try:
            return method(self, request, context)
        except Exception as exc:  # noqa: BLE001 - the boundary to the client
            fail(context, exc)

    return unary


class TranslationService(pb_grpc.TranslationServicer):
    def __init__(self, registry: ModelRegistry, config: ServerConfig):
        self._registry = registry
        self._config = config
        self._pipelines = {
            m.manifest.name: Pipeline(
                m,
                Batcher(
                    m.translator,
                    max_batch_tokens=config.max_batch_tokens,
                    max_wait=config.batch_wait_ms / 1000,
                    max_queued=config.max_queued_sentences,
                    workers=config.inter_threads,
                    name=m.manifest.name,
                ),
                max_sentences=config.max_request_sentences,
            )
            for m in registry.models
        }
        self._slots = threading.BoundedSemaphore(config.max_concurrent_requests)

    # -- RPCs ---------------------------------------------------------------

    @_rpc
    def TranslateDocument(self, request: pb.TranslateDocumentRequest, context) -> pb.TranslateDocumentResponse:
        pipeline, options = self._plan(request)
        with self._slot():
            return to_response(request.document_id, self._translate(pipeline, request.text, options, context))

    @_rpc
    def StreamTranslateDocument(self, request: pb.TranslateDocumentRequest, context) -> Iterator[pb.Segment]:
        pipeline, options = self._plan(request)
        with self._slot():
            ticket = _ticket(context)
            with _translation_errors():
                for segment in pipeline.iter_segments(request.text, options, ticket, context.time_remaining()):
                    yield to_segment(segment)

    @_rpc
    def TranslateDocuments(self, request_iterator, context) -> Iterator[pb.TranslateDocumentResponse]:
        with self._slot():
            for request in request_iterator:
                try:
                    pipeline, options = self._plan(request)
                    response = to_response(request.document_id, self._translate(pipeline, request.text, options, context))
                except RequestError as exc:
                    if exc.code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
                        raise  # the whole call is over
                    response = pb.TranslateDocumentResponse(
                        document_id=request.document_id,
                        error=status_pb2.Status(code=exc.code.value[0], message=exc.message),
                    )
                yield response

    @staticmethod
    def _translate(pipeline: Pipeline, text: str, options: TranslationOptions, context) -> DocumentTranslation:
        with _translation_errors():
            return pipeline.translate(text, options, _ticket(context), context.time_remaining())

    @_rpc
    def ListModels(self, request: pb.ListModelsRequest, context) -> pb.ListModelsResponse:
        source, target = primary_subtag(request.source_language_code), primary_subtag(request.target_language_code)
        models = []
        for model in self._registry.models:
            m = model.manifest
            if (source and primary_subtag(m.source_language) != source) or (
                target and primary_subtag(m.target_language) != target
            ):
                continue
            models.append(
                pb.Model(
                    name=m.name,
                    source_language_code=m.source_language,
                    target_language_code=m.target_language,
                    default=self._registry.is_default(model),
                    quantization=m.quantization,
                    description=m.description,
                    test_only=m.test_only,
                )
            )
        return pb.ListModelsResponse(models=models)

    # -- helpers ------------------------------------------------------------

    def _plan(self, request: pb.TranslateDocumentRequest) -> tuple[Pipeline, TranslationOptions]:
        """Check a request; the pipeline and options to run it with, or RequestError."""
        invalid = grpc.StatusCode.INVALID_ARGUMENT
        if not request.text.strip():
            raise RequestError(invalid, "text is empty: put the document to translate in `text`")
        limit = self._config.max_request_chars
        if len(request.text) > limit:
            raise RequestError(
                invalid, f"text has {len(request.text):,} characters, over the limit of {limit:,}: split the document"
            )
        beam_size = request.options.beam_size or self._config.beam_size
        if beam_size > MAX_BEAM_SIZE:
            raise RequestError(invalid, f"options.beam_size is {beam_size}; use 1 to {MAX_BEAM_SIZE}, or 0 for the default")
        word_alignment = request.options.word_alignment if request.options.HasField("word_alignment") else True
        try:
            model = self._registry.resolve(request.source_language_code, request.target_language_code, request.model)
        except ModelNotFound as exc:
            raise RequestError(grpc.StatusCode.NOT_FOUND, str(exc)) from None
        except ValueError as exc:
            raise RequestError(invalid, str(exc)) from None
        return self._pipelines[model.manifest.name], TranslationOptions(beam_size=beam_size, word_alignment=word_alignment)

    def _slot(self) -> "_Slot":
        return _Slot(self._slots, self._config.max_concurrent_requests)


def _ticket(context: grpc.ServicerContext) -> Ticket:
    """A queue ticket cancelled when the call ends, so a client that leaves frees the queue."""
    ticket = Ticket()
    context.add_callback(ticket.cancel)
    return ticket


@contextlib.contextmanager
def _translation_errors() -> Iterator[None]:
    """The pipeline's refusals as RequestErrors with their status codes."""
    try:
        yield
    except DocumentTooLong as exc:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
    except QueueFull as exc:
        raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"server busy: {exc}; retry with backoff") from None
    except TimeoutError as exc:
        raise RequestError(grpc.StatusCode.DEADLINE_EXCEEDED, str(exc)) from None
    except Cancelled:
        raise RequestError(grpc.StatusCode.CANCELLED, "the call was cancelled") from None


class _Slot:
    """One of the server's translation slots, refused at once when all are taken."""

    def __init__(self, semaphore: threading.BoundedSemaphore, size: int):
        self._semaphore, self._size = semaphore, size

    def __enter__(self) -> None:
        if not self._semaphore.acquire(blocking=False):
            raise RequestError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"server busy: all {self._size} translation slots are taken; retry with backoff",
            )

    def __exit__(self, *exc_info: object) -> None:
        self._semaphore.release()


# -- records → messages --------------------------------------------------------


def _span(span: Span | None) -> pb.Span | None:
    return None if span is None else pb.Span(start=span.start, end=span.end)


def to_segment(segment: Segment) -> pb.Segment:
    return pb.Segment(
        index=segment.index,
        paragraph=segment.paragraph,
        source_span=_span(segment.source_span),
        source_text=segment.source_text,
        target_text=segment.target_text,
        alignments=[pb.WordAlignment(source_span=_span(a.source), target_span=_span(a.target)) for a in segment.alignments],
        entities=[
            pb.Entity(
                label=e.label,
                source_span=_span(e.source),
                target_span=_span(e.target),
                expected_text=e.expected_text,
                status=pb.Entity.Status.Value(e.status),
            )
            for e in segment.entities
        ],
        score=segment.score,
        copied=segment.copied,
    )


def to_response(document_id: str, document: DocumentTranslation) -> pb.TranslateDocumentResponse:
    return pb.TranslateDocumentResponse(
        document_id=document_id,
        model=document.model,
        source_language_code=document.source_language,
        target_language_code=document.target_language,
        segments=[to_segment(s) for s in document.segments],
        translated_text=document.translated_text,
    )
