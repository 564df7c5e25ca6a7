"""One document through segment → tokenize → translate → detokenize → align.

Pure Python objects in and out; the gRPC service and the CLI's in-process
mode both call this. Entity preservation plugs in between segmentation and
tokenization (protect) and after alignment (restore/verify).
"""

from __future__ import annotations

import dataclasses
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from alinea.server.align import align
from alinea.server.records import DocumentTranslation, Segment, Sentence, TranslationOptions
from alinea.server.registry import LoadedModel
from alinea.server.segment import DEFAULT_MAX_CHARS, cut_long, segment
from alinea.server.tokenize import EOS, Pieces

# Marian models have 512 positions; sentences longer than this many source
# pieces are cut at soft points (never truncated) before translation.
MAX_SOURCE_PIECES = 256
# Two letters in a row: below that a sentence ("L", "2014", "—") is copied.
_HAS_WORDS = re.compile(r"[^\W\d_]{2}")


@dataclass(frozen=True)
class _Unit:
    sentence: Sentence
    pieces: Pieces | None  # None: copied verbatim


class Pipeline:
    def __init__(self, model: LoadedModel):
        self.model = model

    def translate(self, text: str, options: TranslationOptions) -> DocumentTranslation:
        """Translate a whole document; all its sentences go to CTranslate2 in one call."""
        units = self._prepare(text)
        segments = self._translate_units(units, options)
        return DocumentTranslation(
            model=self.model.manifest.name,
            source_language=self.model.manifest.source_language,
            target_language=self.model.manifest.target_language,
            segments=segments,
            translated_text=assemble(text, segments),
        )

    def iter_segments(self, text: str, options: TranslationOptions, chunk_size: int = 8) -> Iterator[Segment]:
        """Yield segments in order, translating `chunk_size` sentences at a time."""
        units = self._prepare(text)
        for i in range(0, len(units), chunk_size):
            yield from self._translate_units(units[i : i + chunk_size], options)

    def _prepare(self, text: str) -> list[_Unit]:
        units: list[_Unit] = []
        pending = deque(segment(text, DEFAULT_MAX_CHARS))
        while pending:
            sentence = pending.popleft()
            if not _HAS_WORDS.search(sentence.text):
                units.append(_Unit(sentence, None))
                continue
            pieces = self.model.tokenizer.encode(sentence.text)
            if len(pieces.tokens) > MAX_SOURCE_PIECES and len(sentence.text) > 1:
                pending.extendleft(reversed(_halve(text, sentence)))
                continue
            units.append(_Unit(sentence, pieces))
        return [
            dataclasses.replace(u, sentence=dataclasses.replace(u.sentence, index=i)) for i, u in enumerate(units)
        ]

    def _translate_units(self, units: list[_Unit], options: TranslationOptions) -> list[Segment]:
        # Identical sentences in a request are translated once.
        distinct: dict[tuple[str, ...], int] = {}
        for unit in units:
            if unit.pieces is not None:
                distinct.setdefault(tuple(unit.pieces.tokens), len(distinct))
        hypotheses = self.model.translator.translate(
            [[*tokens, EOS] for tokens in distinct],
            beam_size=options.beam_size,
            attention=options.word_alignment,
        )
        segments = []
        for unit in units:
            s = unit.sentence
            if unit.pieces is None:
                segments.append(Segment(s.index, s.paragraph, s.span, s.text, s.text, copied=True))
                continue
            hypothesis = hypotheses[distinct[tuple(unit.pieces.tokens)]]
            target_text, target_spans = self.model.detokenizer.decode(hypothesis.tokens)
            alignments = (
                align(s.text, unit.pieces.spans, target_text, target_spans, hypothesis.attention)
                if options.word_alignment
                else ()
            )
            segments.append(
                Segment(s.index, s.paragraph, s.span, s.text, target_text, alignments=alignments, score=hypothesis.score)
            )
        return segments


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
