"""Word alignments from the model's cross-attention.

The attention of the decoder's alignment head (the one CTranslate2
returns; alinea's own models are trained to align with it, see
alinea.models.train.guide) becomes links between words, where a word is a
run of letters/digits (with inner hyphens and apostrophes) or a single
punctuation mark: see word_links. Spans are code points of the two
sentence texts.
"""

from __future__ import annotations

import re
from bisect import bisect_right

import numpy as np

from alinea.server.records import Span, WordAlignment

Link = tuple[int, int]  # (source word index, target word index)
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
    source_words: list[Span],
    source_pieces: list[Span],
    target_words: list[Span],
    target_pieces: list[Span],
    attention: list[list[float]],
) -> tuple[WordAlignment, ...]:
    """Word links from attention[target_piece][source_piece], between words() of the two sentences."""
    if not attention or not source_words or not target_words:
        return ()
    links = word_links(source_pieces, source_words, target_pieces, target_words, attention)
    return tuple(
        WordAlignment(source_words[s], target_words[t]) for s, t in sorted(links, key=lambda link: (link[1], link[0]))
    )


def word_attention(
    source_pieces: list[Span],
    source_words: list[Span],
    target_pieces: list[Span],
    target_words: list[Span],
    attention: list[list[float]],
) -> np.ndarray:
    """matrix[j, i]: attention of target word j on source word i.

    A source word's weight is the sum over its pieces; a target word's row
    is the mean over its pieces. Bare-space pieces and the source's
    trailing </s> count for no word. Two matrix products with piece-to-word
    maps: this runs for every sentence the server aligns.
    """
    rows = np.asarray(attention[: len(target_pieces)], dtype=np.float64)
    rows = rows[:, : len(source_pieces)] if rows.ndim == 2 else np.zeros((0, 0))
    source_map = np.zeros((rows.shape[1], len(source_words)))
    for s, i in enumerate(_word_of(source_pieces, source_words)[: rows.shape[1]]):
        if i is not None:
            source_map[s, i] = 1.0
    target_map = np.zeros((len(target_words), rows.shape[0]))
    for t, j in enumerate(_word_of(target_pieces, target_words)[: rows.shape[0]]):
        if j is not None:
            target_map[j, t] = 1.0
    counts = target_map.sum(axis=1, keepdims=True)
    return (target_map @ rows @ source_map) / np.maximum(counts, 1.0)


def directions(matrix: np.ndarray) -> tuple[set[Link], set[Link]]:
    """(target→source, source→target) argmax links of a word attention matrix; all-zero rows and columns link nothing.

    Ties go to the first word, in both directions.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or 0 in matrix.shape:
        return set(), set()
    rows, columns = matrix.any(axis=1).tolist(), matrix.any(axis=0).tolist()
    forward = {(i, j) for j, i in enumerate(matrix.argmax(axis=1).tolist()) if rows[j]}
    backward = {(i, j) for i, j in enumerate(matrix.argmax(axis=0).tolist()) if columns[i]}
    return forward, backward


_NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def grow_diag(intersection: set[Link], union: set[Link]) -> set[Link]:
    """Koehn's grow-diag: add union links next to (or diagonal to) chosen ones that align a still unaligned word."""
    links = set(intersection)
    source_aligned = {i for i, _ in links}
    target_aligned = {j for _, j in links}
    grown = True
    while grown:
        grown = False
        for i, j in sorted(links):
            for di, dj in _NEIGHBOURS:
                candidate = (i + di, j + dj)
                if candidate in union and candidate not in links and (
                    candidate[0] not in source_aligned or candidate[1] not in target_aligned
                ):
                    links.add(candidate)
                    source_aligned.add(candidate[0])
                    target_aligned.add(candidate[1])
                    grown = True
    return links


def word_links(
    source_pieces: list[Span],
    source_words: list[Span],
    target_pieces: list[Span],
    target_words: list[Span],
    attention: list[list[float]],
) -> set[Link]:
    """(source word, target word) index pairs from attention[target_piece][source_piece].

    The words are any spans of the two texts (align() uses words(); the
    alignment evaluation uses a gold set's own tokens). The attention is
    summed into a word-by-word matrix and read in both directions (each
    target word's most attended source word, each source word's most
    attending target word); the links both directions agree on are kept.
    On the Hansards trial set this beat the grow-diag symmetrisation of the
    two and linking each target piece to its most attended source piece
    (docs/formats.md).
    """
    forward, backward = directions(word_attention(source_pieces, source_words, target_pieces, target_words, attention))
    return forward & backward


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def piece_argmax_links(
    source_pieces: list[Span],
    source_words: list[Span],
    target_pieces: list[Span],
    target_words: list[Span],
    attention: list[list[float]],
) -> set[Link]:
    """Each target piece linked to the source piece it attends to most (</s> excluded), as word pairs."""
    source_word = _word_of(source_pieces, source_words)
    target_word = _word_of(target_pieces, target_words)
    links: set[Link] = set()
    for t, row in enumerate(attention[: len(target_pieces)]):
        tw = target_word[t]
        if tw is None or not source_pieces:
            continue
        sw = source_word[_argmax(row[: len(source_pieces)])]
        if sw is not None:
            links.add((sw, tw))
    return links
