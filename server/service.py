"""The alinea.v1.Translation gRPC service: validation, errors, proto conversion.

All translation work happens in the pipeline; this module turns requests
into pipeline calls and records into messages, and every failure into a
status code with a message that says what to change. Nothing a client
sends reaches it as a stack trace.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import inspect
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2

from alinea.server import metrics

from alinea.server.config import ServerConfig
from alinea.server.batcher import Batcher, Cancelled, QueueFull, Ticket
from alinea.server.entities import recognizer_for
from alinea.server.pipeline import DocumentTooLong, Pipeline
from alinea.server import records
from alinea.server.records import DocumentTranslation, Segment, Span, TranslationOptions
from alinea.server.registry import ModelNotFound, ModelRegistry, primary_subtag
from alinea.v1 import translation_pb2 as pb
from alinea.v1 import translation_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

MAX_BEAM_SIZE = 16
# Suggested wait before retrying a call refused because the server is full.
RETRY_AFTER = 1.0
# Documents of one TranslateDocuments call queued ahead of the one being answered.
DOCUMENT_WINDOW = 8
MAX_GLOSSARY_ENTRIES = 256
MAX_GLOSSARY_TERM_CHARS = 200
_ENTITY_MODES = {
    pb.ENTITY_MODE_UNSPECIFIED: records.PRESERVE,
    pb.ENTITY_MODE_PRESERVE: records.PRESERVE,
    pb.ENTITY_MODE_REPORT: records.REPORT,
    pb.ENTITY_MODE_OFF: records.OFF,
}


class RequestError(Exception):
    """A request that cannot be served as sent; `retry_after` (seconds) hints when to try again."""

    def __init__(self, code: grpc.StatusCode, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def to_status(self) -> status_pb2.Status:
        """As a google.rpc.Status, with a RetryInfo detail when there is a retry hint."""
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        if self.retry_after is not None:
            detail = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(
                seconds=int(self.retry_after), nanos=int(self.retry_after % 1 * 1e9)))
            status.details.add().Pack(detail)
        return status


class _Status(collections.namedtuple("_Status", ("code", "details", "trailing_metadata")), grpc.Status):
    pass


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id(context: grpc.ServicerContext) -> str:
    """The caller's x-request-id when it is a sane token, else a fresh one."""
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str) and _REQUEST_ID.fullmatch(value):
            return value
    return uuid.uuid4().hex[:16]


def _rpc(method: Callable) -> Callable:
    """The boundary to the client: request id, access log, metrics, and errors as status codes.

    RequestError becomes its status (with its retry hint); anything
    unexpected becomes INTERNAL with the request id, and the stack trace
    goes to the log only.
    """
    name = method.__name__

    def begin(context: grpc.ServicerContext) -> tuple[str, float]:
        rid = request_id(context)
        context.set_trailing_metadata((("x-request-id", rid),))
        return rid, time.monotonic()

    def finish(rid: str, started: float, code: grpc.StatusCode) -> None:
        seconds = time.monotonic() - started
        metrics.observe_call(name, code.name, seconds)
        log.info("%s %s %.0fms", name, code.name, seconds * 1000,
                 extra={"request_id": rid, "method": name, "code": code.name, "ms": round(seconds * 1000, 1)})

    def fail(context: grpc.ServicerContext, rid: str, started: float, exc: Exception) -> None:
        if not isinstance(exc, RequestError):
            log.exception("%s failed", name, extra={"request_id": rid, "method": name})
            exc = RequestError(grpc.StatusCode.INTERNAL,
                               f"internal error (request id {rid}); the server log has the details")
        finish(rid, started, exc.code)
        trailing = (("x-request-id", rid),)
        if exc.retry_after is not None:
            trailing += (("grpc-status-details-bin", exc.to_status().SerializeToString()),)
        context.abort_with_status(_Status(exc.code, exc.message, trailing))

    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def streaming(self, request, context):
            rid, started = begin(context)
            try:
                yield from method(self, request, context)
            except GeneratorExit:  # the client went away mid-stream
                finish(rid, started, grpc.StatusCode.CANCELLED)
                raise
            except Exception as exc:  # noqa: BLE001 - the boundary to the client
                fail(context, rid, started, exc)
            finish(rid, started, grpc.StatusCode.OK if context.is_active() else grpc.StatusCode.CANCELLED)

        return streaming

    @functools.wraps(method)
    def unary(self, request, context):
        rid, started = begin(context)
        try:
            response = method(self, request, context)
        except Exception as exc:  # noqa: BLE001 - the boundary to the client
            fail(context, rid, started, exc)
        finish(rid, started, grpc.StatusCode.OK)
        return response

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
                recognizer=recognizer_for(primary_subtag(m.manifest.source_language),
                                          primary_subtag(m.manifest.target_language)),
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
                for segment in pipeline.iter_segments(request.text, options, ticket, _remaining(context)):
                    yield to_segment(segment)

    @_rpc
    def TranslateDocuments(self, request_iterator, context) -> Iterator[pb.TranslateDocumentResponse]:
        """Documents are read and queued ahead (up to DOCUMENT_WINDOW) while earlier ones translate,
        so the batcher sees many documents at once; responses still leave in request order."""
        with self._slot():
            started: queue.Queue = queue.Queue(maxsize=DOCUMENT_WINDOW)
            call_ticket = _ticket(context)

            def put(item) -> None:
                while context.is_active():
                    try:
                        started.put(item, timeout=0.5)
                        return
                    except queue.Full:
                        continue

            def read() -> None:
                try:
                    for request in request_iterator:
                        put(self._start_document(request, context, call_ticket))
                except Exception as exc:  # noqa: BLE001 - the call broke off; the consumer re-raises it
                    put(exc)
                put(None)

            threading.Thread(target=read, name="alinea-read-documents", daemon=True).start()
            while context.is_active():
                try:
                    item = started.get(timeout=0.5)
                except queue.Empty:
                    continue  # the client may be slow to send, or gone: look again
                if item is None:
                    return
                if isinstance(item, Exception):
                    raise item
                yield item()

    def _start_document(self, request: pb.TranslateDocumentRequest, context,
                        call_ticket: Ticket) -> Callable[[], pb.TranslateDocumentResponse]:
        """Check and queue one document of a TranslateDocuments call; returns what finishes it."""

        def failed(exc: RequestError) -> Callable[[], pb.TranslateDocumentResponse]:
            return lambda: pb.TranslateDocumentResponse(document_id=request.document_id, error=exc.to_status())

        try:
            pipeline, options = self._plan(request)
            with _translation_errors():
                pending = pipeline.start(request.text, options, Ticket(parent=call_ticket))
        except RequestError as exc:
            return failed(exc)

        def finish() -> pb.TranslateDocumentResponse:
            with _translation_errors():  # deadline or cancel: the whole call is over
                return to_response(request.document_id, pending.result(_remaining(context)))

        return finish

    @staticmethod
    def _translate(pipeline: Pipeline, text: str, options: TranslationOptions, context) -> DocumentTranslation:
        with _translation_errors():
            return pipeline.translate(text, options, _ticket(context), _remaining(context))

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
        entities = _ENTITY_MODES.get(request.options.entities)
        if entities is None:
            raise RequestError(invalid, f"options.entities is {request.options.entities}, not an EntityMode; "
                                        "use PRESERVE, REPORT or OFF")
        glossary = _glossary(request.options.glossary)
        try:
            model = self._registry.resolve(request.source_language_code, request.target_language_code, request.model)
        except ModelNotFound as exc:
            raise RequestError(grpc.StatusCode.NOT_FOUND, str(exc)) from None
        except ValueError as exc:
            raise RequestError(invalid, str(exc)) from None
        pipeline = self._pipelines[model.manifest.name]
        if glossary and pipeline.recognizer is None:
            m = model.manifest
            raise RequestError(invalid, f"model {m.name} ({m.source_language}→{m.target_language}) has no entity "
                                        "support, so it cannot apply a glossary: send the request without one")
        if glossary and entities == records.OFF:
            raise RequestError(invalid, "options.glossary needs entities on: drop the glossary or use PRESERVE or REPORT")
        return pipeline, TranslationOptions(beam_size=beam_size, word_alignment=word_alignment,
                                            entities=entities, glossary=glossary)

    def _slot(self) -> "_Slot":
        return _Slot(self._slots, self._config.max_concurrent_requests)


def _glossary(entries) -> tuple[tuple[str, str], ...]:
    """Request glossary entries as (source, target) pairs, or RequestError naming the bad entry."""
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    if len(entries) > MAX_GLOSSARY_ENTRIES:
        raise RequestError(invalid, f"options.glossary has {len(entries)} entries; the limit is {MAX_GLOSSARY_ENTRIES}")
    seen: dict[str, str] = {}
    for i, entry in enumerate(entries):
        source, target = entry.source.strip(), entry.target.strip()
        if not source:
            raise RequestError(invalid, f"options.glossary[{i}].source is empty: give the term as it appears in the text")
        if max(len(source), len(target)) > MAX_GLOSSARY_TERM_CHARS:
            raise RequestError(invalid, f"options.glossary[{i}] is longer than {MAX_GLOSSARY_TERM_CHARS} characters")
        if source in seen and seen[source] != (target or source):
            raise RequestError(invalid, f"options.glossary has two targets for {source!r}: keep one")
        seen[source] = target or source
    return tuple(seen.items())


# A call without a deadline reports an enormous time remaining, too large for a thread wait.
_NO_DEADLINE = 10 * 365 * 24 * 3600.0


def _remaining(context: grpc.ServicerContext) -> float | None:
    """Seconds left before the call's deadline; None when it has none."""
    remaining = context.time_remaining()
    return None if remaining is None or remaining >= _NO_DEADLINE else remaining


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
        raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"server busy: {exc}; retry with backoff",
                           retry_after=RETRY_AFTER) from None
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
                retry_after=RETRY_AFTER,
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
        # As dicts: the message is built in one go, not from a message per link copied into it (a third of the time).
        alignments=[{"source_span": {"start": a.source.start, "end": a.source.end},
                     "target_span": {"start": a.target.start, "end": a.target.end}} for a in segment.alignments],
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
