"""SentencePiece on both sides, keeping track of where every piece lies.

Alignment needs each subword's character span: on the source side
SentencePiece reports UTF-8 byte offsets into the original text (its
normalisation, e.g. NFKC of "ﬁ", is undone by those offsets), which we turn
into code points; on the target side we rebuild the text from the pieces
ourselves, so each piece's span is known by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sentencepiece as spm

from alinea.server.records import Span

EOS = "</s>"
UNK = "<unk>"
_SPACE = "\u2581"  # SentencePiece's word-boundary mark
# Spaces that NFKC turns into " " and French writes ("11\u00a0h", "«\u202fnon\u202f»", "dit\u2009;").
_SPACES = (" ", "\u00a0", "\u202f", "\u2009")


@dataclass(frozen=True)
class Pieces:
    """Subword tokens of one text, and each token's span in that text."""

    tokens: list[str]
    spans: list[Span]


class SourceTokenizer:
    def __init__(self, model_file: Path):
        self._sp = spm.SentencePieceProcessor(model_file=str(model_file))
        self._unk = self._sp.unk_id()

    def encode(self, text: str) -> Pieces:
        return self._encode_by_lengths(text) or self._encode_with_offsets(text)

    def _encode_by_lengths(self, text: str) -> Pieces | None:
        """Pieces whose spans follow from the lengths of those before them; None where normalisation did more
        than turn spaces into word marks.

        The usual case: reading SentencePiece's offsets costs twice as much
        as the encoding itself. The first piece's word mark stands for no
        character; every other one for the space before its word.
        """
        pieces = self._sp.encode(text, out_type=str)
        marked = text
        for space in _SPACES:
            marked = marked.replace(space, _SPACE)  # one character for one: every length stays
        if "".join(pieces) != _SPACE + marked:
            return None
        tokens, spans, position = [], [], -1
        for piece, piece_id in zip(pieces, self._sp.piece_to_id(pieces)):
            end = position + len(piece)
            tokens.append(UNK if piece_id == self._unk else piece)
            spans.append(Span(max(position, 0), end))
            position = end
        return Pieces(tokens, spans)

    def _encode_with_offsets(self, text: str) -> Pieces:
        proto = self._sp.encode(text, return_type="proto")
        byte_to_char = _byte_to_char_offsets(text)
        tokens, spans = [], []
        for piece in proto.pieces:
            tokens.append(UNK if piece.id == self._unk else piece.piece)
            spans.append(Span(byte_to_char[piece.begin], byte_to_char[piece.end]))
        return Pieces(tokens, spans)


class TargetDetokenizer:
    """Pieces back to text: what SentencePiece's decode does, with spans."""

    def __init__(self, model_file: Path):
        self._sp = spm.SentencePieceProcessor(model_file=str(model_file))

    def decode(self, tokens: list[str]) -> tuple[str, list[Span]]:
        parts: list[str] = []
        spans: list[Span] = []
        length = 0
        for token in tokens:
            surface = "\u2047" if token == UNK else token.replace(_SPACE, " ")
            if length == 0:
                surface = surface.lstrip(" ")
            parts.append(surface)
            # A piece's span covers its characters, not the space before it.
            lead = len(surface) - len(surface.lstrip(" "))
            spans.append(Span(length + lead, length + len(surface)))
            length += len(surface)
        text = "".join(parts)
        stripped = text.rstrip(" ")
        if len(stripped) != len(text):
            spans = [Span(min(s.start, len(stripped)), min(s.end, len(stripped))) for s in spans]
        return stripped, spans


def _byte_to_char_offsets(text: str) -> list[int] | range:
    """offsets[b] = code-point index of UTF-8 byte b (and len(text) at the end)."""
    if text.isascii():
        return range(len(text) + 1)
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    # A code point starts at every byte that is not a continuation byte (0b10xxxxxx).
    starts = np.cumsum((data & 0xC0) != 0x80) - 1
    return [*starts.tolist(), len(text)]
