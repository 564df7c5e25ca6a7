"""Word alignments from the model's cross-attention.

Each target subword is linked to the source subword it attends to most
(the source's closing </s> excluded); subword links become links between
words, where a word is a run of letters/digits (with inner hyphens and
apostrophes) or a single punctuation mark. Spans are code points of the
two sentence texts.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from alinea.server.records import Span, WordAlignment

_WORD = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]", re.UNICODE)


def words(text: str) -> list[Span]:
    return [Span(m.start(), m.end()) for m in _WORD.finditer(text)]


def _word_of(pieces: list[Span], word_spans: list[Span]) -> list[int | None]:
    """For each subword span, the first word it overlaps (None for a bare space)."""
    ends = [w.end for w in word_spans]
    result: list[int | None] = []
    for piece in pieces:
        i = bisect_right(ends, piece.start)  # first word ending after the piece starts
        result.append(i if i < len(word_spans) and word_spans[i].start < piece.end else None)
    return result


def align(
    source_text: str,
    source_pieces: list[Span],
    target_text: str,
    target_pieces: list[Span],
    attention: list[list[float]],
) -> tuple[WordAlignment, ...]:
    """Word links from attention[target_piece][source_piece]."""
    source_words, target_words = words(source_text), words(target_text)
    if not source_words or not target_words or not attention:
        return ()
    links = word_links(source_pieces, source_words, target_pieces, target_words, attention)
    return tuple(
        WordAlignment(source_words[s], target_words[t]) for s, t in sorted(links, key=lambda link: (link[1], link[0]))
    )


def word_links(
    source_pieces: list[Span],
    source_words: list[Span],
    target_pieces: list[Span],
    target_words: list[Span],
    attention: list[list[float]],
) -> set[tuple[int, int]]:
    """(source word, target word) index pairs from attention[target_piece][source_piece].

    The words are any spans of the two texts (align() uses words(); the
    alignment evaluation uses a gold set's own tokens). Each target piece is
    linked to the source piece it attends to most, the trailing </s> column
    excluded; pieces outside every word (a bare space) link nothing.
    """
    source_word = _word_of(source_pieces, source_words)
    target_word = _word_of(target_pieces, target_words)
    links: set[tuple[int, int]] = set()
    n_source = len(source_pieces)  # attention rows also cover </s>: ignore it
    for t, row in enumerate(attention[: len(target_pieces)]):
        tw = target_word[t]
        if tw is None or n_source == 0:
            continue
        weights = row[:n_source]
        s = max(range(len(weights)), key=weights.__getitem__)
        sw = source_word[s]
        if sw is not None:
            links.add((sw, tw))
    return links
