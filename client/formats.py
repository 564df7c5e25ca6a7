"""Writers for translated documents: text, bilingual TSV, JSONL and TMX 1.4b.

Each writer takes the server's TranslateDocumentResponse and a text stream.
Only the standard library and protobuf are used, so the thin client stays
thin.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TextIO
from xml.sax.saxutils import escape, quoteattr

from google.protobuf import json_format

from alinea.v1 import translation_pb2 as pb

Writer = Callable[[pb.TranslateDocumentResponse, TextIO], None]

# Characters XML 1.0 cannot carry, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TSV_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
TSV_COLUMNS = ("index", "paragraph", "source_start", "source_end", "source_text", "target_text")


def write_text(response: pb.TranslateDocumentResponse, out: TextIO) -> None:
    """The translation, with the input's line and paragraph breaks."""
    out.write(response.translated_text)
    if response.translated_text and not response.translated_text.endswith("\n"):
        out.write("\n")


def _tsv_field(value: object) -> str:
    return re.sub(r"[\\\t\n\r]", lambda m: _TSV_ESCAPES[m.group()], str(value))


def write_tsv(response: pb.TranslateDocumentResponse, out: TextIO) -> None:
    """One segment a row under a header; tabs, line breaks and backslashes are escaped as \\t, \\n, \\\\."""
    out.write("\t".join(TSV_COLUMNS) + "\n")
    for s in response.segments:
        row = (s.index, s.paragraph, s.source_span.start, s.source_span.end, s.source_text, s.target_text)
        out.write("\t".join(_tsv_field(v) for v in row) + "\n")


def segment_to_dict(segment: pb.Segment) -> dict:
    return json_format.MessageToDict(
        segment, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def write_jsonl(response: pb.TranslateDocumentResponse, out: TextIO) -> None:
    """One JSON object a segment: the Segment message's fields plus document_id and model."""
    for segment in response.segments:
        record = {"document_id": response.document_id, "model": response.model, **segment_to_dict(segment)}
        out.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_jsonl(lines: TextIO) -> list[pb.Segment]:
    """Segments back from write_jsonl's output."""
    segments = []
    for line in lines:
        if line.strip():
            record = json.loads(line)
            record.pop("document_id", None)
            record.pop("model", None)
            segments.append(json_format.ParseDict(record, pb.Segment()))
    return segments


def _xml(text: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", text))


def write_tmx(response: pb.TranslateDocumentResponse, out: TextIO) -> None:
    """A TMX 1.4b translation memory, one <tu> per segment.

    Characters XML cannot hold (most C0 controls) become U+FFFD.
    """
    from alinea.client import __version__

    source, target = response.source_language_code, response.target_language_code
    created = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write('<!DOCTYPE tmx SYSTEM "tmx14.dtd">\n<tmx version="1.4">\n')
    out.write(
        f'  <header creationtool="alinea" creationtoolversion={quoteattr(__version__)} segtype="sentence" '
        f'o-tmf="alinea" adminlang="en" srclang={quoteattr(source)} datatype="plaintext" creationdate="{created}">\n'
    )
    if response.model:
        out.write(f'    <prop type="x-alinea-model">{_xml(response.model)}</prop>\n')
    if response.document_id:
        out.write(f'    <prop type="x-alinea-document-id">{_xml(response.document_id)}</prop>\n')
    out.write("  </header>\n  <body>\n")
    for s in response.segments:
        out.write(f'    <tu tuid="{s.index}">\n')
        out.write(f'      <prop type="x-alinea-paragraph">{s.paragraph}</prop>\n')
        out.write(f'      <prop type="x-alinea-source-span">{s.source_span.start} {s.source_span.end}</prop>\n')
        out.write(f'      <tuv xml:lang={quoteattr(source)}><seg>{_xml(s.source_text)}</seg></tuv>\n')
        out.write(f'      <tuv xml:lang={quoteattr(target)}><seg>{_xml(s.target_text)}</seg></tuv>\n')
        out.write("    </tu>\n")
    out.write("  </body>\n</tmx>\n")


WRITERS: dict[str, tuple[Writer, str]] = {
    # format: (writer, file extension)
    "text": (write_text, "txt"),
    "tsv": (write_tsv, "tsv"),
    "jsonl": (write_jsonl, "jsonl"),
    "tmx": (write_tmx, "tmx"),
}
