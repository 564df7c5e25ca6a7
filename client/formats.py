"""Writers for translated documents: text, bilingual TSV, JSONL, TMX 1.4b,
XLIFF 2.0 and a side-by-side HTML view; readers for JSONL, TMX and XLIFF.

Each writer takes the server's TranslateDocumentResponse and a text stream.
Only the standard library and protobuf are used, so the thin client stays
thin.
"""

from __future__ import annotations

import html
import json
import re
import struct
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable
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


def _float32(value: float) -> float:
    """value rounded to float32, as the field will hold it.

    protobuf prints the largest float32 (±3.4028234663852886e38) as its
    shortest form ±3.4028235e38, which is just past the float32 range as a
    double, and its parser then refuses it ("Float value too small").
    """
    try:
        return struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:  # not a float32 at all: let the parser say so
        return value


def read_jsonl(lines: TextIO) -> list[pb.Segment]:
    """Segments back from write_jsonl's output."""
    segments = []
    for line in lines:
        if line.strip():
            record = json.loads(line)
            record.pop("document_id", None)
            record.pop("model", None)
            if isinstance(record.get("score"), float):
                record["score"] = _float32(record["score"])
            segments.append(json_format.ParseDict(record, pb.Segment()))
    return segments


def _xml(text: str) -> str:
    # A raw carriage return would come back as a line feed (XML normalises
    # line ends), so it is written as a character reference.
    return escape(_NOT_XML.sub("\ufffd", text), {"\r": "&#13;"})


def write_tmx(response: pb.TranslateDocumentResponse, out: TextIO) -> None:
    """A TMX 1.4b translation memory, one <tu> per segment.

    Characters XML cannot hold (most C0 controls) become U+FFFD.
    """
    out.write(tmx_header(response.source_language_code, response.target_language_code, response.model,
                         response.document_id))
    out.write(tmx_units(response))
    out.write(TMX_FOOTER)


TMX_FOOTER = "  </body>\n</tmx>\n"


def tmx_header(source: str, target: str, model: str = "", document_id: str = "") -> str:
    """A TMX 1.4b document up to its open <body>; tmx_units and TMX_FOOTER complete it."""
    from alinea.client import __version__

    created = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    head = ['<?xml version="1.0" encoding="UTF-8"?>\n', '<!DOCTYPE tmx SYSTEM "tmx14.dtd">\n<tmx version="1.4">\n',
            f'  <header creationtool="alinea" creationtoolversion={quoteattr(__version__)} segtype="sentence" '
            f'o-tmf="alinea" adminlang="en" srclang={quoteattr(source)} datatype="plaintext" creationdate="{created}">\n']
    if model:
        head.append(f'    <prop type="x-alinea-model">{_xml(model)}</prop>\n')
    if document_id:
        head.append(f'    <prop type="x-alinea-document-id">{_xml(document_id)}</prop>\n')
    head.append("  </header>\n  <body>\n")
    return "".join(head)


def tmx_units(response: pb.TranslateDocumentResponse, document_id: str = "") -> str:
    """One <tu> per segment. With `document_id` (many documents in one TMX), each unit names its
    document in a prop and its tuid is "DOCUMENT#INDEX", unique across the file."""
    source, target = response.source_language_code, response.target_language_code
    units = []
    for s in response.segments:
        tuid = quoteattr(f"{document_id}#{s.index}" if document_id else str(s.index))
        units.append(f"    <tu tuid={tuid}>\n")
        if document_id:
            units.append(f'      <prop type="x-alinea-document-id">{_xml(document_id)}</prop>\n')
        units.append(f'      <prop type="x-alinea-paragraph">{s.paragraph}</prop>\n')
        units.append(f'      <prop type="x-alinea-source-span">{s.source_span.start} {s.source_span.end}</prop>\n')
        units.append(f'      <tuv xml:lang={quoteattr(source)}><seg>{_xml(s.source_text)}</seg></tuv>\n')
        units.append(f'      <tuv xml:lang={quoteattr(target)}><seg>{_xml(s.target_text)}</seg></tuv>\n')
        units.append("    </tu>\n")
    return "".join(units)


_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# TMX inline elements that hold native codes, not text.
_TMX_CODES = frozenset({"bpt", "ept", "it", "ph", "ut"})


def _tmx_text(element: ElementTree.Element) -> str:
    parts = [element.text or ""]
    for child in element:
        if child.tag not in _TMX_CODES:
            parts.append(_tmx_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _span(value: str | None) -> pb.Span:
    try:
        start, end = (int(v) for v in (value or "").split())
    except ValueError:
        return pb.Span()
    return pb.Span(start=start, end=end)


def read_tmx(stream: TextIO) -> list[pb.Segment]:
    """Segments back from write_tmx's output: index, paragraph, source span, source and target text.

    The source <tuv> is the one in the header's srclang (else the first);
    the target is the other. Alignments, entities and scores are not in TMX.
    """
    root = ElementTree.fromstring(stream.read())
    header = root.find("header")
    source_language = (header.get("srclang", "") if header is not None else "").lower()
    segments = []
    for position, tu in enumerate(root.iterfind("body/tu")):
        props = {prop.get("type"): prop.text or "" for prop in tu.findall("prop")}
        variants = tu.findall("tuv")
        source = next((v for v in variants if (v.get(_XML_LANG) or "").lower() == source_language), None)
        if source is None and variants:
            source = variants[0]
        target = next((v for v in variants if v is not source), None)
        tuid = tu.get("tuid", "")
        paragraph = props.get("x-alinea-paragraph", "")
        segments.append(pb.Segment(
            index=int(tuid) if tuid.isdigit() else position,
            paragraph=int(paragraph) if paragraph.isdigit() else 0,
            source_span=_span(props.get("x-alinea-source-span")),
            source_text=_tmx_text(source.find("seg")) if source is not None and source.find("seg") is not None else "",
            target_text=_tmx_text(target.find("seg")) if target is not None and target.find("seg") is not None else "",
        ))
    return segments


XLIFF_NS = "urn:oasis:names:tc:xliff:document:2.0"
XLIFF_METADATA_NS = "urn:oasis:names:tc:xliff:metadata:2.0"
_XLF = "{%s}" % XLIFF_NS
_MDA = "{%s}" % XLIFF_METADATA_NS


def _xliff_text(text: str) -> str:
    """Escaped XLIFF content; characters XML cannot carry become <cp hex="..."/>, as XLIFF 2 prescribes."""
    out, last = [], 0
    for match in _NOT_XML.finditer(text):
        out.append(escape(text[last : match.start()], {"\r": "&#13;"}))
        code = ord(match.group())
        # A lone surrogate is no character at all and cannot be encoded.
        out.append("\ufffd" if 0xD800 <= code <= 0xDFFF else f'<cp hex="{code:04X}"/>')
        last = match.end()
    out.append(escape(text[last:], {"\r": "&#13;"}))
    return "".join(out)


def _xliff_meta(out: TextIO, indent: str, values: dict[str, str]) -> None:
    out.write(f'{indent}<mda:metadata>\n{indent}  <mda:metaGroup category="alinea">\n')
    for kind, value in values.items():
        out.write(f"{indent}    <mda:meta type={quoteattr(kind)}>{_xliff_text(value)}</mda:meta>\n")
    out.write(f"{indent}  </mda:metaGroup>\n{indent}</mda:metadata>\n")


def write_xliff(response: pb.TranslateDocumentResponse, out: TextIO) -> None:
    """An XLIFF 2.0 document: one <file>, one <unit> a segment holding one <segment> with <source> and <target>.

    Index, paragraph, source span, score and the copied flag travel in each
    unit's Metadata module (mda) group "alinea"; the model in the file's.
    Characters XML cannot hold become <cp hex="..."/> elements, so nothing
    is lost. A document with no segments gets one empty <group>, since a
    <file> needs a unit or a group.
    """
    from alinea.client import __version__

    # srcLang is required and trgLang is needed with targets: "und" is BCP 47 for "undetermined".
    source = response.source_language_code or "und"
    target = response.target_language_code or "und"
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(
        f'<xliff xmlns="{XLIFF_NS}" xmlns:mda="{XLIFF_METADATA_NS}" version="2.0" '
        f"srcLang={quoteattr(source)} trgLang={quoteattr(target)}>\n"
    )
    original = f" original={quoteattr(_NOT_XML.sub(chr(0xFFFD), response.document_id))}" if response.document_id else ""
    out.write(f'  <file id="f1"{original}>\n')
    file_meta = {"tool": f"alinea {__version__}"}
    if response.model:
        file_meta["model"] = response.model
    _xliff_meta(out, "    ", file_meta)
    for position, s in enumerate(response.segments):
        out.write(f'    <unit id="u{position}">\n')
        meta = {
            "index": str(s.index),
            "paragraph": str(s.paragraph),
            "source-span": f"{s.source_span.start} {s.source_span.end}",
            "score": f"{s.score:.6g}",
        }
        if s.copied:
            meta["copied"] = "true"
        _xliff_meta(out, "      ", meta)
        out.write(f'      <segment id="s{position}" state="translated">\n')
        out.write(f'        <source xml:space="preserve">{_xliff_text(s.source_text)}</source>\n')
        out.write(f'        <target xml:space="preserve">{_xliff_text(s.target_text)}</target>\n')
        out.write("      </segment>\n    </unit>\n")
    if not response.segments:
        out.write('    <group id="empty"/>\n')
    out.write("  </file>\n</xliff>\n")


# XLIFF 2 inline elements whose content is text (the others are empty codes).
_XLIFF_TEXT_INLINES = frozenset({_XLF + "pc", _XLF + "mrk"})


def _xliff_content(element: ElementTree.Element | None) -> str:
    if element is None:
        return ""
    parts = [element.text or ""]
    for child in element:
        if child.tag == _XLF + "cp":
            try:
                parts.append(chr(int(child.get("hex", ""), 16)))
            except ValueError:
                parts.append("\ufffd")
        elif child.tag in _XLIFF_TEXT_INLINES:
            parts.append(_xliff_content(child))
        parts.append(child.tail or "")
    return "".join(parts)


def read_xliff(stream: TextIO) -> list[pb.Segment]:
    """Segments back from an XLIFF 2 document, e.g. write_xliff's output after post-editing.

    Each <unit> is a segment; its source and target are the units'
    <segment>s and <ignorable>s put together. Index, paragraph, source span,
    score and the copied flag come from the "alinea" metadata when present.
    """
    root = ElementTree.fromstring(stream.read())
    segments = []
    for position, unit in enumerate(root.iter(_XLF + "unit")):
        meta = {
            m.get("type"): m.text or ""
            for group in unit.iterfind(f"{_MDA}metadata/{_MDA}metaGroup")
            if group.get("category") == "alinea"
            for m in group.iterfind(_MDA + "meta")
        }
        parts = [p for p in unit if p.tag in (_XLF + "segment", _XLF + "ignorable")]
        index, paragraph = meta.get("index", ""), meta.get("paragraph", "")
        try:
            score = float(meta.get("score", "0"))
        except ValueError:
            score = 0.0
        segments.append(pb.Segment(
            index=int(index) if index.isdigit() else position,
            paragraph=int(paragraph) if paragraph.isdigit() else 0,
            source_span=_span(meta.get("source-span")),
            source_text="".join(_xliff_content(p.find(_XLF + "source")) for p in parts),
            target_text="".join(_xliff_content(p.find(_XLF + "target")) for p in parts),
            score=score,
            copied=meta.get("copied") == "true",
        ))
    return segments


# The server's notion of a word (alinea.server.align): a run of letters and
# digits with inner hyphens and apostrophes, or one punctuation mark.
_WORD = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]", re.UNICODE)

_HTML_STYLE = """
:root{--hl:#ffd54f;--self:#81d4fa;--pair:#f1f6ff;--entity:#8e24aa;--muted:#666}
*{box-sizing:border-box}
body{font:17px/1.65 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1c1c1e;background:#fff;
  margin:0 auto;max-width:80em;padding:1.2em 2em 3em}
header h1{font-size:1.25em;margin:.2em 0}
header p{margin:.2em 0;color:var(--muted);font-size:.9em}
.legend{font-size:.85em;color:var(--muted)}
.para{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:0 2.5em;padding:.7em 0;
  border-top:1px solid #e5e5ea;overflow-wrap:anywhere}
.columns{font-weight:600;color:var(--muted);border-top:0;padding-bottom:0}
.seg{border-radius:4px;transition:background-color .1s}
.seg.pair{background:var(--pair)}
.w{border-radius:3px}
.w[data-links]{cursor:pointer}
.w.hl{background:var(--hl)}
.w.self{background:var(--self)}
.copied{color:var(--muted);font-style:italic}
.entity{border-bottom:2px solid var(--entity)}
.entity.missing{border-bottom-style:dotted;border-color:#c62828}
@media (max-width:720px){.para{grid-template-columns:1fr}.para>div+div{margin-top:.4em}}
"""

_HTML_SCRIPT = """
(function () {
  "use strict";
  // Hovering a word lights up the words it is aligned with, on the other side.
  function word(w, on) {
    w.classList.toggle("self", on);
    var ids = (w.getAttribute("data-links") || "").split(" ");
    for (var i = 0; i < ids.length; i++) {
      var other = ids[i] && document.getElementById(ids[i]);
      if (other) other.classList.toggle("hl", on);
    }
  }
  // Hovering a sentence lights up its translation (or its source).
  function sentence(s, on) {
    s.classList.toggle("pair", on);
    var other = document.getElementById(s.getAttribute("data-pair"));
    if (other) other.classList.toggle("pair", on);
  }
  function follow(on) {
    return function (event) {
      var t = event.target;
      if (!t || !t.closest) return;
      var w = t.closest(".w");
      if (w) word(w, on);
      var s = t.closest(".seg");
      if (s) sentence(s, on);
    };
  }
  document.addEventListener("mouseover", follow(true));
  document.addEventListener("mouseout", follow(false));
})();
"""


def _html(text: str) -> str:
    # One code point for one, so spans still fit the text.
    return html.escape(_NOT_XML.sub("\ufffd", text))


def _valid(span: pb.Span, text: str) -> bool:
    return 0 <= span.start < span.end <= len(text)


def _html_pieces(text: str, edges: Iterable[int]) -> list[tuple[int, int]]:
    """Words of text, also cut at the given offsets (alignment and entity edges)."""
    cuts = {0, len(text)}
    for match in _WORD.finditer(text):
        cuts.update(match.span())
    cuts.update(e for e in edges if 0 <= e <= len(text))
    ordered = sorted(cuts)
    return [(a, b) for a, b in zip(ordered, ordered[1:]) if text[a:b].strip()]


def _entity_title(entity: pb.Entity) -> str:
    try:
        status = pb.Entity.Status.Name(entity.status)
    except ValueError:
        status = str(entity.status)
    title = f"{entity.label or 'entity'} · {status}"
    return title + (f" · expected: {entity.expected_text}" if entity.expected_text else "")


def _html_side(text: str, pieces: list[tuple[int, int]], ids: list[str], links: list[list[str]],
               entities: list[tuple[int, int, pb.Entity]]) -> str:
    """text with every piece in a <span class="w"> and entities in <span class="entity">."""
    # Entities that overlap an earlier one join its title instead of nesting.
    kept: list[list] = []
    for start, end, entity in sorted(entities, key=lambda e: (e[0], -e[1])):
        if kept and start < kept[-1][1]:
            kept[-1][3] += "; " + _entity_title(entity)
        else:
            kept.append([start, end, entity, _entity_title(entity)])
    opens: dict[int, list[str]] = {}
    closes: dict[int, list[str]] = {}
    for start, end, entity, title in kept:
        label = re.sub(r"[^\w-]", "", entity.label)
        missing = " missing" if entity.status == pb.Entity.MISSING else ""
        opens.setdefault(start, []).append(
            f'<span class="entity{missing}" data-label="{html.escape(label)}" title="{_html(title)}">'
        )
        closes.setdefault(end, []).insert(0, "</span>")
    for (start, end), piece_id, piece_links in zip(pieces, ids, links):
        attrs = f' data-links="{" ".join(piece_links)}"' if piece_links else ""
        opens.setdefault(start, []).append(f'<span class="w" id="{piece_id}"{attrs}>')
        closes.setdefault(end, []).insert(0, "</span>")
    out, cursor = [], 0
    for position in sorted(set(opens) | set(closes)):
        out.append(_html(text[cursor:position]))
        # Pieces close before the entities around them, which open before their pieces.
        out.extend(closes.get(position, ()))
        out.extend(opens.get(position, ()))
        cursor = position
    out.append(_html(text[cursor:]))
    return "".join(out)


def _html_segment(position: int, s: pb.Segment) -> tuple[str, str]:
    """The source and target sentence of one segment, words wrapped and cross-linked."""
    alignments = [a for a in s.alignments if _valid(a.source_span, s.source_text) and _valid(a.target_span, s.target_text)]
    source_entities = [(e.source_span.start, e.source_span.end, e) for e in s.entities if _valid(e.source_span, s.source_text)]
    target_entities = [(e.target_span.start, e.target_span.end, e) for e in s.entities if _valid(e.target_span, s.target_text)]
    source_pieces = _html_pieces(s.source_text, [x for a in alignments for x in (a.source_span.start, a.source_span.end)]
                                 + [x for e in source_entities for x in e[:2]])
    target_pieces = _html_pieces(s.target_text, [x for a in alignments for x in (a.target_span.start, a.target_span.end)]
                                 + [x for e in target_entities for x in e[:2]])
    source_ids = [f"s{position}-{k}" for k in range(len(source_pieces))]
    target_ids = [f"t{position}-{k}" for k in range(len(target_pieces))]
    source_links: list[list[str]] = [[] for _ in source_pieces]
    target_links: list[list[str]] = [[] for _ in target_pieces]
    for a in alignments:
        # Every piece inside the link's source span is linked to every piece inside its target span.
        inside_source = [k for k, (x, y) in enumerate(source_pieces) if a.source_span.start <= x and y <= a.source_span.end]
        inside_target = [k for k, (x, y) in enumerate(target_pieces) if a.target_span.start <= x and y <= a.target_span.end]
        for k in inside_source:
            source_links[k].extend(target_ids[j] for j in inside_target if target_ids[j] not in source_links[k])
        for j in inside_target:
            target_links[j].extend(source_ids[k] for k in inside_source if source_ids[k] not in target_links[j])
    kind = "seg copied" if s.copied else "seg"
    note = ' title="copied verbatim: nothing to translate"' if s.copied else ""
    common = f' data-index="{s.index}" data-score="{s.score:.4g}"{note}'
    source = (f'<span class="{kind}" id="seg-s{position}" data-pair="seg-t{position}"{common}>'
              + _html_side(s.source_text, source_pieces, source_ids, source_links, source_entities) + "</span>")
    target = (f'<span class="{kind}" id="seg-t{position}" data-pair="seg-s{position}"{common}>'
              + _html_side(s.target_text, target_pieces, target_ids, target_links, target_entities) + "</span>")
    return source, target


def write_html(response: pb.TranslateDocumentResponse, out: TextIO) -> None:
    """One self-contained HTML page: source and translation side by side, paragraph by paragraph.

    Every word is a <span class="w"> whose data-links lists the ids of the
    words it is aligned with; hovering a word highlights them (inline script,
    no network: a Content-Security-Policy forbids any fetch). Entities are
    <span class="entity"> with a title; copied segments have class "copied".
    """
    from alinea.client import __version__

    source = response.source_language_code or "und"
    target = response.target_language_code or "und"
    title = f"{response.document_id or 'Translation'} ({source} → {target})"
    paragraphs: dict[int, list[tuple[str, str]]] = {}
    for position, s in enumerate(response.segments):
        paragraphs.setdefault(s.paragraph, []).append(_html_segment(position, s))
    linked = sum(1 for s in response.segments if s.alignments)
    out.write("<!DOCTYPE html>\n")
    out.write(f'<html lang="{_html(target)}">\n<head>\n<meta charset="utf-8">\n')
    out.write('<meta http-equiv="Content-Security-Policy" '
              "content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n")
    out.write('<meta name="viewport" content="width=device-width, initial-scale=1">\n')
    out.write(f'<meta name="generator" content="alinea {_html(__version__)}">\n')
    out.write(f"<title>{_html(title)}</title>\n<style>{_HTML_STYLE}</style>\n</head>\n<body>\n<header>\n")
    out.write(f"<h1>{_html(title)}</h1>\n")
    details = [f"model {response.model}"] if response.model else []
    details.append(f"{len(response.segments)} segments, {linked} with word alignments")
    out.write(f"<p>{_html(' · '.join(details))}</p>\n")
    out.write('<p class="legend">Hover a word to see the words it is aligned with; '
              '<span class="entity">underlined</span>: named entity (hover for details); '
              '<span class="copied">grey</span>: copied verbatim.</p>\n</header>\n<main>\n')
    out.write(f'<div class="para columns"><div>source · {_html(source)}</div><div>translation · {_html(target)}</div></div>\n')
    for paragraph, pairs in paragraphs.items():
        out.write(f'<section class="para" data-paragraph="{paragraph}">\n')
        out.write(f'<div class="src" lang="{_html(source)}" dir="auto">{" ".join(p[0] for p in pairs)}</div>\n')
        out.write(f'<div class="tgt" lang="{_html(target)}" dir="auto">{" ".join(p[1] for p in pairs)}</div>\n')
        out.write("</section>\n")
    out.write(f"</main>\n<script>{_HTML_SCRIPT}</script>\n</body>\n</html>\n")


WRITERS: dict[str, tuple[Writer, str]] = {
    # format: (writer, file extension)
    "text": (write_text, "txt"),
    "tsv": (write_tsv, "tsv"),
    "jsonl": (write_jsonl, "jsonl"),
    "tmx": (write_tmx, "tmx"),
    "xliff": (write_xliff, "xlf"),
    "html": (write_html, "html"),
}
