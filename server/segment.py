"""Split a document into paragraphs and sentences with exact offsets.

Rules rather than a statistical model: offsets must be exact code points
(``text[start:end] == sentence``), the result must not depend on a model
version, and French news text has a handful of well-known traps that rules
handle deterministically:

* a sentence ends at ``. ! ? …`` (or a run of them), possibly followed by
  closing quotes or brackets (``»  ”  )``, French style with a space before
  ``»``), then whitespace, then something
  that can start a sentence (an upper-case letter, a digit, an opening
  quote, bracket or dash);
* not after abbreviations (``M.``, ``Mme``, ``art.``, ``cf.``…) or a single
  capital initial (``J. Dupont``);
* ``100.000`` or ``3.5`` never end a sentence (no space after the point),
  nor does ``(…)`` in mid-sentence (a lower-case word follows);
* blank lines separate paragraphs, and every line break ends a sentence,
  so one-sentence-per-line files keep their lines;
* whitespace is never part of a sentence; a sentence longer than
  ``max_chars`` is cut at the last comma, semicolon or space before the
  limit, so nothing downstream has to truncate it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from alinea.server.records import Sentence, Span

ABBREVIATIONS = frozenset(
    """
    m mm mme mmes mlle mlles dr drs pr me mgr st ste sts stes
    art al cf p pp vol vols éd chap fig env av apr ex tél no nos n° bd boul
    av jc j.-c hab min max mr mrs ms prof gén col lt sgt cie inc ltd co
    """.split()
)

# A run of sentence-final punctuation, the closing marks after it, the
# whitespace that follows.
_BOUNDARY = re.compile(r"[.!?…]+(?:[ \u00a0\u202f]?[»”])?[\"’')\]]*(?=\s)")
_WORD_BEFORE = re.compile(r"([\w.-]+)$")
_OPENERS = frozenset("«\"“‘'([—–-¿¡")
_SOFT_CUTS = re.compile(r"[,;:]\s|\s")

DEFAULT_MAX_CHARS = 1000


def segment(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[Sentence]:
    """All sentences of `text`, in order, with paragraph numbers and spans."""
    sentences: list[Sentence] = []
    paragraph = -1
    previous_blank = True
    offset = 0
    for line in text.splitlines(keepends=True):
        start = offset
        offset += len(line)
        if not line.strip():
            previous_blank = True
            continue
        if previous_blank:
            paragraph += 1
            previous_blank = False
        for span in _sentences_in_line(text, start, start + len(line)):
            for piece in cut_long(text, span, max_chars):
                sentences.append(Sentence(len(sentences), paragraph, piece, piece.of(text)))
    return sentences


def _sentences_in_line(text: str, start: int, end: int) -> Iterator[Span]:
    line = text[start:end]
    cursor = 0
    for match in _BOUNDARY.finditer(line):
        if _is_boundary(line, match):
            yield from _trimmed(start + cursor, start + match.end(), text)
            cursor = match.end()
    yield from _trimmed(start + cursor, end, text)


def _is_boundary(line: str, match: re.Match[str]) -> bool:
    rest = line[match.end() :].lstrip()
    if not rest:
        return False  # the line ends here anyway
    nxt = rest[0]
    if not (nxt.isupper() or nxt.isdigit() or nxt in _OPENERS):
        return False
    if match.group().startswith(".") and not match.group().startswith(".."):
        word = _WORD_BEFORE.search(line[: match.start()])
        if word:
            token = word.group(1)
            if token.lower() in ABBREVIATIONS:
                return False
            if len(token) == 1 and token.isupper():
                return False  # an initial, as in "J. Dupont"
    return True


def _trimmed(start: int, end: int, text: str) -> Iterator[Span]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        yield Span(start, end)


def cut_long(text: str, span: Span, max_chars: int) -> Iterator[Span]:
    """Cut an over-long sentence at soft points so no piece exceeds max_chars."""
    start = span.start
    while span.end - start > max_chars:
        window = text[start : start + max_chars]
        cuts = [m.end() for m in _SOFT_CUTS.finditer(window) if m.end() > max_chars // 2]
        cut = start + (cuts[-1] if cuts else max_chars)
        yield from _trimmed(start, cut, text)
        start = cut
    yield from _trimmed(start, span.end, text)
