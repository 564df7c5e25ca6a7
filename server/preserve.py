"""Check that each entity reached the translation, and repair it when it did not.

The model translates freely (no placeholders: any Marian model works,
including ones never trained with them). Then, for each entity of the
source sentence:

1. if one of its acceptable forms is in the translation, it is reported
   there: PRESERVED_VERBATIM when that form is the source text itself,
   RENDERED when it is an English name or a converted number or date;
   of several occurrences, the one nearest to where the word alignment
   puts the entity is taken, and no occurrence serves two entities;
2. otherwise, when repair is on, the target words aligned to the entity's
   source words (the largest contiguous run of them) are replaced by the
   expected form; when no target word is aligned to it, the form is
   inserted after the target word aligned to the nearest source word
   before it. Either way it is REPAIRED;
3. otherwise it is MISSING, with no target span.

Statuses are decided on the final text, so a response never claims an
entity that is not there. Word alignments are rewritten to match the
repaired text.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from alinea.server.align import words
from alinea.server.entities import Mention
from alinea.server.records import Entity, Span, WordAlignment

PRESERVED_VERBATIM, RENDERED, REPAIRED, MISSING = "PRESERVED_VERBATIM", "RENDERED", "REPAIRED", "MISSING"


@dataclass(frozen=True)
class Carried:
    """A segment's translation after its entities were checked (and repaired)."""

    target_text: str
    alignments: tuple[WordAlignment, ...]
    entities: tuple[Entity, ...]


@dataclass(frozen=True)
class _Edit:
    span: Span  # of the original target text; empty for an insertion
    text: str  # what replaces it
    mention: int


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end if a.start < a.end and b.start < b.end else a.start == b.start


def _occurrences(text: str, form: str) -> list[Span]:
    """Where `form` appears in `text` as whole words."""
    spans, start = [], text.find(form)
    while start >= 0 and form:
        end = start + len(form)
        before_ok = start == 0 or not (text[start - 1].isalnum() and form[0].isalnum())
        after_ok = end == len(text) or not (text[end].isalnum() and form[-1].isalnum())
        if before_ok and after_ok:
            spans.append(Span(start, end))
        start = text.find(form, start + 1)
    return spans


def _aligned(mention: Mention, alignments: tuple[WordAlignment, ...]) -> list[Span]:
    return sorted({a.target for a in alignments if _overlaps(a.source, mention.span)}, key=lambda s: s.start)


def _nearest(candidates: list[Span], anchors: list[Span]) -> Span:
    if not anchors:
        return candidates[0]
    middle = (anchors[0].start + anchors[-1].end) / 2
    return min(candidates, key=lambda s: abs((s.start + s.end) / 2 - middle))


def _region(aligned: list[Span], target_text: str, target_words: list[Span], taken: list[Span]) -> Span | None:
    """The largest run of consecutive target words among `aligned`, skipping punctuation and words already taken."""
    index = {w: i for i, w in enumerate(target_words)}
    free = sorted(
        index[s] for s in aligned
        if s in index and any(c.isalnum() for c in s.of(target_text)) and not any(_overlaps(s, t) for t in taken)
    )
    if not free:
        return None
    runs: list[list[int]] = [[free[0]]]
    for i in free[1:]:
        if i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    best = max(runs, key=len)
    return Span(target_words[best[0]].start, target_words[best[-1]].end)


def _spaced(text: str, span: Span, form: str) -> str:
    """`form` to put at `span` of `text`, with a space where it would touch a word (or, inserted, any mark)."""
    previous = text[span.start - 1] if span.start > 0 else " "
    following = text[span.end] if span.end < len(text) else " "
    inserted = span.start == span.end
    before = " " if previous.isalnum() or (inserted and not previous.isspace()) else ""
    after = " " if following.isalnum() else ""
    return before + form + after


def _insertion_point(mention: Mention, alignments: tuple[WordAlignment, ...]) -> int | None:
    """After the target word of the nearest aligned source word before the mention (or at the start)."""
    before = [a for a in alignments if a.source.end <= mention.span.start]
    if before:
        nearest = max(before, key=lambda a: (a.source.end, a.target.end))
        return nearest.target.end
    return 0 if alignments else None


def carry(source_text: str, mentions: list[Mention], target_text: str, alignments: tuple[WordAlignment, ...],
          repair: bool, *, source_words: list[Span] | None = None, target_words: list[Span] | None = None) -> Carried:
    """Check `mentions` (spans of source_text) against the translation; repair the missing ones if `repair`.

    `source_words` and `target_words` are words() of the two texts, where
    the caller has them already.
    """
    found: dict[int, tuple[Span, str]] = {}
    taken: list[Span] = []
    aligned = [_aligned(mention, alignments) for mention in mentions]
    for i, mention in enumerate(mentions):
        anchors = aligned[i]
        for form in mention.rendering.forms:
            candidates = [s for s in _occurrences(target_text, form) if not any(_overlaps(s, t) for t in taken)]
            if candidates:
                span = _nearest(candidates, anchors)
                status = PRESERVED_VERBATIM if form == mention.text else RENDERED
                found[i] = (span, status)
                taken.append(span)
                break

    edits: list[_Edit] = []
    missing = [i for i in range(len(mentions)) if i not in found]
    if repair and missing:
        target_words = words(target_text) if target_words is None else target_words
        for i in missing:
            mention = mentions[i]
            busy = taken + [e.span for e in edits]
            region = _region(aligned[i], target_text, target_words, busy)
            if region is None:
                point = _insertion_point(mention, alignments)
                if point is None or any(t.start < point < t.end for t in busy):
                    continue
                region = Span(point, point)
            edits.append(_Edit(region, _spaced(target_text, region, mention.rendering.expected), i))

    new_text, shift, placed = _apply(target_text, edits)
    entities = []
    for i, mention in enumerate(mentions):
        if i in found:
            span, status = found[i]
            target: Span | None = shift(span)
        elif i in placed:
            target, status = placed[i], REPAIRED
        else:
            target, status = None, MISSING
        entities.append(Entity(mention.label, mention.span, target, mention.rendering.expected, status))
    if not edits:  # nothing moved: the links are already in (target, source) order, each once
        return Carried(new_text, alignments, tuple(entities))
    source_words = words(source_text) if source_words is None else source_words
    return Carried(new_text, _realign(source_words, alignments, edits, shift, placed, mentions), tuple(entities))


def _apply(text: str, edits: list[_Edit]):
    """The edited text, a function mapping untouched spans to the new text, and each edit's new span."""
    edits = sorted(edits, key=lambda e: (e.span.start, e.span.end))  # stable: insertions at one point keep their order
    parts, cursor, delta = [], 0, 0
    starts, deltas = [], []  # cumulative shift after each edit's end
    placed: dict[int, Span] = {}
    for edit in edits:
        parts.append(text[cursor : edit.span.start])
        new_start = edit.span.start + delta
        stripped = edit.text.strip()
        offset = edit.text.index(stripped)
        placed[edit.mention] = Span(new_start + offset, new_start + offset + len(stripped))
        parts.append(edit.text)
        cursor = edit.span.end
        delta += len(edit.text) - (edit.span.end - edit.span.start)
        starts.append(edit.span.end)
        deltas.append(delta)
    parts.append(text[cursor:])

    def shift(span: Span) -> Span:
        k = bisect_left(starts, span.start + 1) - 1  # edits ending at or before span.start
        d = deltas[k] if k >= 0 else 0
        return Span(span.start + d, span.end + d)

    return "".join(parts), shift, placed


def _realign(source_words: list[Span], alignments: tuple[WordAlignment, ...], edits: list[_Edit], shift,
             placed: dict[int, Span], mentions: list[Mention]) -> tuple[WordAlignment, ...]:
    """Links to replaced words are dropped; each repaired entity's source words link to its new words."""
    links = [
        WordAlignment(a.source, shift(a.target))
        for a in alignments
        if not any(_overlaps(a.target, e.span) for e in edits if e.span.start < e.span.end)
    ]
    for i, new_span in placed.items():
        mention_words = [w for w in source_words if _overlaps(w, mentions[i].span)]
        new_words = [Span(new_span.start + w.start, new_span.start + w.end) for w in words(mentions[i].rendering.expected)]
        links += [WordAlignment(s, t) for s in mention_words for t in new_words]
    return tuple(sorted(set(links), key=lambda a: (a.target.start, a.source.start)))
