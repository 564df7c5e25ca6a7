"""Typed records that flow through the pipeline.

Plain frozen dataclasses, no gRPC: the service converts them to protobuf
at the edge, the CLI and tests use them directly. Offsets are Unicode code
points, half-open.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"invalid span [{self.start}, {self.end})")

    def of(self, text: str) -> str:
        return text[self.start : self.end]


@dataclass(frozen=True)
class Sentence:
    """A sentence found by the segmenter: where it lies in the document."""

    index: int
    paragraph: int
    span: Span
    text: str


@dataclass(frozen=True)
class WordAlignment:
    """A source word linked to a target word, as spans of the two sentence texts."""

    source: Span
    target: Span


@dataclass(frozen=True)
class Entity:
    label: str
    source: Span
    target: Span | None
    expected_text: str
    status: str  # PRESERVED_VERBATIM, RENDERED, REPAIRED, MISSING


@dataclass(frozen=True)
class Segment:
    """One source sentence with its translation."""

    index: int
    paragraph: int
    source_span: Span
    source_text: str
    target_text: str
    alignments: tuple[WordAlignment, ...] = ()
    entities: tuple[Entity, ...] = ()
    score: float = 0.0
    copied: bool = False


# What happens to the named entities of a request (TranslationOptions.entities).
PRESERVE, REPORT, OFF = "preserve", "report", "off"


@dataclass(frozen=True)
class TranslationOptions:
    beam_size: int = 4
    word_alignment: bool = True
    # PRESERVE: find entities, check them in the translation and repair the missing ones;
    # REPORT: find and check only; OFF: skip entities altogether (fastest).
    entities: str = PRESERVE
    # Source term → target form to enforce (the term itself to keep it verbatim).
    glossary: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DocumentTranslation:
    model: str
    source_language: str
    target_language: str
    segments: list[Segment] = field(default_factory=list)
    translated_text: str = ""
