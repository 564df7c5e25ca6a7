"""One document through segment → entities → tokenize → translate → detokenize → align → carry entities.

Pure Python objects in and out; the gRPC service and the CLI's in-process
mode both call this. Entities are found once per document (before
translation, so the statistical model sees whole paragraphs), then checked
and repaired in each translated sentence (preserve.py).
"""

from __future__ import annotations

import dataclasses
import re
from bisect import bisect_left
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, as_completed
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from alinea.server.align import align, words
from alinea.server.batcher import Batcher, Ticket
from alinea.server.entities import EntityRecognizer, Mention
from alinea.server.preserve import carry
from alinea.server.records import (OFF, PRESERVE, DocumentTranslation, Segment, Sentence, Span, TranslationOptions,
                                   WordAlignment)
from alinea.server.registry import LoadedModel
from alinea.server.segment import DEFAULT_MAX_CHARS, cut_long, segment
from alinea.server.tokenize import EOS, Pieces
from alinea.server.translate import Hypothesis

# Marian models have 512 positions; sentences longer than this many source
# pieces are cut at soft points (never truncated) before translation.
MAX_SOURCE_PIECES = 256
# Two letters in a row: below that a sentence ("L", "2014", "—") is copied.
_HAS_WORDS = re.compile(r"[^\W\d_]{2}")


@dataclass(frozen=True)
class _Unit:
    sentence: Sentence
    pieces: Pieces | None  # None: copied verbatim
    mentions: tuple[Mention, ...] = ()  # spans of sentence.text


class DocumentTooLong(ValueError):
    """More sentences than the pipeline accepts in one document."""


class Pipeline:
    """Translate documents with one model; sentences go through a shared Batcher.

    `timeout` bounds the wait for translations (TimeoutError after it); a
    cancelled `ticket`, or a consumer that stops iterating, drops the
    document's sentences still queued.
    """

    def __init__(self, model: LoadedModel, batcher: Batcher | None = None, max_sentences: int | None = None,
                 recognizer: EntityRecognizer | None = None):
        self.model = model
        self.batcher = batcher or Batcher(model.translator, name=model.manifest.name)
        self.max_sentences = max_sentences
        # None: the model's source language has no entity recognizer, and segments carry no entities.
        self.recognizer = recognizer

    def translate(self, text: str, options: TranslationOptions, ticket: Ticket | None = None,
                  timeout: float | None = None) -> DocumentTranslation:
        return self.start(text, options, ticket).result(timeout)

    def iter_segments(self, text: str, options: TranslationOptions, ticket: Ticket | None = None,
                      timeout: float | None = None) -> Iterator[Segment]:
        """Segments in order, each as soon as it and those before it are translated."""
        yield from self.start(text, options, ticket).segments(timeout)

    def start(self, text: str, options: TranslationOptions, ticket: Ticket | None = None) -> "PendingDocument":
        """Segment and tokenize `text` and queue its sentences; translation goes on in the batcher.

        Entities are found after the sentences are queued, while the model
        translates them: detection then costs the caller no wall time when
        the model is the slower of the two.
        """
        units = self._prepare(text)
        entities = self.recognizer is not None and options.entities != OFF
        # Identical sentences in a document are translated once.
        distinct: dict[tuple[str, ...], int] = {}
        for unit in units:
            if unit.pieces is not None:
                distinct.setdefault(tuple(unit.pieces.tokens), len(distinct))
        ticket = ticket or Ticket()
        futures = self.batcher.submit(
            [[*tokens, EOS] for tokens in distinct],
            beam_size=options.beam_size,
            # Repairs locate an entity's rendering through the attention.
            attention=options.word_alignment or (entities and options.entities == PRESERVE),
            ticket=ticket,
        )
        by_unit = [None if u.pieces is None else futures[distinct[tuple(u.pieces.tokens)]] for u in units]
        if entities:
            try:
                mentions = self.recognizer.find(text, dict(options.glossary), [u.sentence.span for u in units])
                units = _with_mentions(units, mentions)
            except BaseException:
                ticket.cancel()  # nobody will collect these sentences
                raise
        return PendingDocument(self, text, options, units, by_unit, ticket)

    def _prepare(self, text: str) -> list[_Unit]:
        """Sentences with their pieces; over-long ones are cut, and numbered anew after any cut."""
        units: list[_Unit] = []
        pending = deque(segment(text, DEFAULT_MAX_CHARS))
        while pending:
            sentence = pending.popleft()
            pieces = None
            if _HAS_WORDS.search(sentence.text):
                pieces = self.model.tokenizer.encode(sentence.text)
                if len(pieces.tokens) > MAX_SOURCE_PIECES and len(sentence.text) > 1:
                    pending.extendleft(reversed(_halve(text, sentence)))
                    continue
            if sentence.index != len(units):
                sentence = dataclasses.replace(sentence, index=len(units))
            units.append(_Unit(sentence, pieces))
            if self.max_sentences is not None and len(units) > self.max_sentences:
                raise DocumentTooLong(
                    f"the document has more than {self.max_sentences:,} sentences: split it into smaller documents"
                )
        return units

    def _segment(self, unit: _Unit, hypothesis: Hypothesis, options: TranslationOptions) -> Segment:
        s, pieces = unit.sentence, unit.pieces
        target_text, target_spans = self.model.detokenizer.decode(hypothesis.tokens)
        source_words, target_words = words(s.text), words(target_text)
        alignments = align(source_words, pieces.spans, target_words, target_spans, hypothesis.attention or [])
        entities = ()
        if unit.mentions:
            carried = carry(s.text, list(unit.mentions), target_text, alignments, repair=options.entities == PRESERVE,
                            source_words=source_words, target_words=target_words)
            target_text, alignments, entities = carried.target_text, carried.alignments, carried.entities
        return Segment(s.index, s.paragraph, s.span, s.text, target_text,
                       alignments=alignments if options.word_alignment else (), entities=entities,
                       score=hypothesis.score)

    def _copied(self, unit: _Unit) -> Segment:
        """A segment with nothing to translate: its text, and its entities checked (never rewritten) in it."""
        s = unit.sentence
        entities = ()
        if unit.mentions:
            identity = tuple(WordAlignment(w, w) for w in words(s.text))
            entities = carry(s.text, list(unit.mentions), s.text, identity, repair=False).entities
        return Segment(s.index, s.paragraph, s.span, s.text, s.text, entities=entities, copied=True)


@dataclass
class PendingDocument:
    """A document whose sentences are queued: collect its segments in order."""

    pipeline: Pipeline
    text: str
    options: TranslationOptions
    units: list[_Unit]
    futures: list[Future | None]  # None for copied units
    ticket: Ticket

    def segments(self, timeout: float | None = None) -> Iterator[Segment]:
        """Segments in order, each as soon as it and those before it are translated.

        Sentences are finished (detokenized, aligned, entities carried) in
        the order their translations arrive, not in document order, so that
        this work overlaps the translation of the rest of the document.
        Stopping early (an error, a deadline, a consumer that leaves) cancels
        the ticket: sentences still queued are dropped.
        """
        units_of: dict[Future, list[int]] = {}  # identical sentences share a future
        for k, future in enumerate(self.futures):
            if future is not None:
                units_of.setdefault(future, []).append(k)
        arrivals = as_completed(units_of, timeout)
        finished: dict[int, Segment] = {}
        try:
            for k, (unit, future) in enumerate(zip(self.units, self.futures)):
                if future is None:
                    yield self.pipeline._copied(unit)
                    continue
                while k not in finished:
                    try:
                        arrived = next(arrivals)
                    except FutureTimeout:
                        raise TimeoutError(f"translation did not finish within {timeout:g}s") from None
                    hypothesis = arrived.result()
                    for j in units_of[arrived]:
                        finished[j] = self.pipeline._segment(self.units[j], hypothesis, self.options)
                yield finished.pop(k)
        finally:
            self.ticket.cancel()  # whatever is still queued for this document is no longer wanted

    def result(self, timeout: float | None = None) -> DocumentTranslation:
        manifest = self.pipeline.model.manifest
        segments = list(self.segments(timeout))
        return DocumentTranslation(
            model=manifest.name,
            source_language=manifest.source_language,
            target_language=manifest.target_language,
            segments=segments,
            translated_text=assemble(self.text, segments),
        )


def _with_mentions(units: list[_Unit], mentions: list[Mention]) -> list[_Unit]:
    """Each unit with the mentions inside its sentence, as spans of the sentence (one crossing a cut is dropped)."""
    starts = [m.span.start for m in mentions]  # mentions come sorted and never overlap
    result = []
    for unit in units:
        span = unit.sentence.span
        inside = tuple(
            dataclasses.replace(m, span=Span(m.span.start - span.start, m.span.end - span.start))
            for m in mentions[bisect_left(starts, span.start) : bisect_left(starts, span.end)]
            if m.span.end <= span.end
        )
        result.append(dataclasses.replace(unit, mentions=inside) if inside else unit)
    return result


def _halve(text: str, sentence: Sentence) -> list[Sentence]:
    """Cut a sentence with too many pieces in two, at a soft point near its middle."""
    limit = len(sentence.text) // 2 + 1
    return [Sentence(sentence.index, sentence.paragraph, span, span.of(text)) for span in cut_long(text, sentence.span, limit)]


def assemble(text: str, segments: list[Segment]) -> str:
    """The translation as one text: target sentences joined by the source's own whitespace."""
    out: list[str] = []
    cursor = 0
    for seg in segments:
        out.append(text[cursor : seg.source_span.start])
        out.append(seg.target_text)
        cursor = seg.source_span.end
    out.append(text[cursor:])
    return "".join(out)
