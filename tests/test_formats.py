"""Output formats: XLIFF 2 structure, the HTML view, and readers that give back what writers wrote.

XLIFF is validated against the official OASIS XLIFF 2.0 core XML Schema
(tests/data/xliff), plus the few rules of the specification a schema cannot
express; TMX against the TMX 1.4b DTD.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree
from lxml import html as lxml_html

from alinea.client.cli import main
from alinea.client.formats import (
    WRITERS,
    XLIFF_METADATA_NS,
    XLIFF_NS,
    read_jsonl,
    read_tmx,
    read_xliff,
    write_html,
    write_jsonl,
    write_tmx,
    write_xliff,
)
from alinea.v1 import translation_pb2 as pb
from conftest import REPO, SEED_FR

TMX_DTD = etree.DTD(str(REPO / "tests" / "data" / "tmx14.dtd"))
X = "{%s}" % XLIFF_NS
MDA = "{%s}" % XLIFF_METADATA_NS
XML_NS = "{http://www.w3.org/XML/1998/namespace}"
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# The OASIS XLIFF 2.0 core schema, with the W3C xml.xsd it imports (tests/data/xliff/PROVENANCE.md).
XLIFF_SCHEMA = etree.XMLSchema(etree.parse(str(REPO / "tests" / "data" / "xliff" / "xliff_core_2.0.xsd")))


def _pattern(children, names: dict[str, str]) -> str:
    """Children as one letter each ('o' for an element of another namespace), to match content models."""
    return "".join(names.get(c.tag, "o" if not c.tag.startswith(X) else "?") for c in children if isinstance(c.tag, str))


def xliff_problems(root: etree._Element) -> list[str]:
    """Errors against the XLIFF 2.0 core schema, and the rules the schema cannot express.

    Those are: unit and group ids unique within a file, <cp> only for
    characters XML cannot carry, and the shape of the metadata module's
    elements, which the core schema admits laxly (the module's own schema is
    not among the vendored files).
    """
    problems = [] if XLIFF_SCHEMA.validate(root) else [str(error) for error in XLIFF_SCHEMA.error_log]
    for file in root.iterfind(X + "file"):
        ids = [element.get("id") for element in file.iter(X + "unit", X + "group")]
        if len(ids) != len(set(ids)):
            problems.append(f"<file id={file.get('id')}> repeats a unit or group id")
    for cp in root.iter(X + "cp"):
        hex_value = cp.get("hex") or ""
        if not re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", hex_value) or not NOT_XML.match(chr(int(hex_value, 16))):
            problems.append(f"<cp hex={hex_value!r}> is not a character XML cannot carry")
    for metadata in root.iter(MDA + "metadata"):
        if not re.fullmatch("g+", _pattern(metadata, {MDA + "metaGroup": "g"})):
            problems.append("<mda:metadata> must hold <mda:metaGroup>s")
        for group in metadata.iter(MDA + "metaGroup"):
            if not re.fullmatch("[mg]+", _pattern(group, {MDA + "meta": "m", MDA + "metaGroup": "g"})):
                problems.append("<mda:metaGroup> must hold <mda:meta> or <mda:metaGroup>s")
            for meta in group.iterfind(MDA + "meta"):
                if not meta.get("type"):
                    problems.append("<mda:meta> needs a type")
    return problems


def parse_xliff(text: str) -> etree._Element:
    return etree.fromstring(text.encode("utf-8"))


def written(writer, response: pb.TranslateDocumentResponse) -> str:
    out = io.StringIO()
    writer(response, out)
    return out.getvalue()


def span(start: int, end: int) -> pb.Span:
    return pb.Span(start=start, end=end)


HOSTILE = pb.TranslateDocumentResponse(
    document_id="a<b>&\"c\"", model="m", source_language_code="fr", target_language_code="en",
    segments=[
        pb.Segment(index=0, paragraph=0, source_span=span(0, 32),
                   source_text="Pékin <script>alert(1)</script>\x00\x1f\r\n\t&amp;",
                   target_text="Beijing \"quoted\" 'single' \ufffe\U0001F600 ]]>",
                   alignments=[pb.WordAlignment(source_span=span(0, 5), target_span=span(0, 7))],
                   entities=[pb.Entity(label="LOC", source_span=span(0, 5), target_span=span(0, 7),
                                       expected_text="Beijing <x>", status=pb.Entity.RENDERED)],
                   score=-0.25),
        pb.Segment(index=1, paragraph=1, source_span=span(34, 38), source_text="2014", target_text="2014", copied=True),
    ],
)


# ---------------------------------------------------------------- XLIFF


def test_xliff_from_the_cli_follows_the_core_rules(server, capsys, tmp_path):
    out_file = tmp_path / "seed.xlf"
    code = main(["translate", str(SEED_FR), "--format", "xliff", "-o", str(out_file), "--beam-size", "1",
                 "--server", server.address])
    capsys.readouterr()
    assert code == 0
    root = etree.parse(str(out_file)).getroot()
    assert xliff_problems(root) == []
    assert (root.get("version"), root.get("srcLang"), root.get("trgLang")) == ("2.0", "fr", "en")
    units = root.findall(f"{X}file/{X}unit")
    assert len(units) == 19
    assert units[0].findtext(f"{X}segment/{X}source").startswith("Le Kremlin a revendiqué")
    text = SEED_FR.read_text(encoding="utf-8")
    for segment in read_xliff(io.StringIO(out_file.read_text(encoding="utf-8"))):
        assert text[segment.source_span.start : segment.source_span.end] == segment.source_text
    assert WRITERS["xliff"][1] == "xlf"


def test_xliff_keeps_characters_xml_cannot_carry_as_cp_elements():
    text = written(write_xliff, HOSTILE)
    root = parse_xliff(text)
    assert xliff_problems(root) == []
    source = root.find(f"{X}file/{X}unit/{X}segment/{X}source")
    assert [cp.get("hex") for cp in source.iter(X + "cp")] == ["0000", "001F"]
    assert root.find(f"{X}file/{X}unit/{X}segment/{X}target")[0].get("hex") == "FFFE"
    assert "<script>" not in text
    assert root.find(f"{X}file").get("original") == "a<b>&\"c\""
    back = read_xliff(io.StringIO(text))
    assert [(s.source_text, s.target_text) for s in back] == [(s.source_text, s.target_text) for s in HOSTILE.segments]
    assert [s.copied for s in back] == [False, True]


def test_xliff_of_an_empty_document_is_still_structurally_valid():
    root = parse_xliff(written(write_xliff, pb.TranslateDocumentResponse(source_language_code="fr")))
    assert xliff_problems(root) == []
    assert root.get("trgLang") == "und"
    assert read_xliff(io.StringIO(written(write_xliff, pb.TranslateDocumentResponse()))) == []


def test_the_xliff_checker_catches_what_it_should():
    good = written(write_xliff, HOSTILE)
    broken = {
        "no srcLang": good.replace(' srcLang="fr"', ""),
        "target before source": re.sub(r"(<source[^>]*>.*?</source>)\s*(<target[^>]*>.*?</target>)", r"\2\1", good, count=1),
        "metadata after the segment": good.replace("</segment>", "</segment><mda:metadata/>", 1),
        "duplicate unit id": good.replace('unit id="u1"', 'unit id="u0"'),
        "unknown attribute": good.replace('<segment id="s0"', '<segment foo="1" id="s0"'),
        "printable cp": good.replace('hex="0000"', 'hex="0041"'),
        "bad state": good.replace('state="translated"', 'state="done"', 1),
    }
    for name, text in broken.items():
        assert xliff_problems(parse_xliff(text)), name


# ---------------------------------------------------------------- HTML


def test_html_escapes_everything_and_links_words():
    text = written(write_html, HOSTILE)
    document = lxml_html.document_fromstring(text)
    assert not document.xpath("//script[contains(., 'alert')]")
    assert not document.xpath("//@src | //link | //@href"), "the page must not load anything"
    assert len(document.xpath("//script")) == 1 and len(document.xpath("//style")) == 1
    source_words = document.xpath("//div[@class='src']//span[contains(@class, 'w')]")
    assert [w.text for w in source_words[:6]] == ["Pékin", "<", "script", ">", "alert", "("]
    pekin, beijing = document.get_element_by_id("s0-0"), document.get_element_by_id("t0-0")
    assert (pekin.get("data-links"), beijing.get("data-links")) == ("t0-0", "s0-0")
    entity = pekin.getparent()
    assert "entity" in entity.get("class") and entity.get("title") == "LOC · RENDERED · expected: Beijing <x>"
    # The sentences read back exactly, U+FFFD standing for the characters HTML cannot show
    # (and \r\n read as \n, as HTML parsers do).
    sentences = document.xpath("//span[contains(@class, 'seg')]")
    assert [s.text_content() for s in sentences] == [
        "Pékin <script>alert(1)</script>\ufffd\ufffd\n\t&amp;", "Beijing \"quoted\" 'single' \ufffd\U0001F600 ]]>", "2014", "2014"]
    copied = document.xpath("//span[contains(@class, 'seg') and contains(@class, 'copied')]")
    assert len(copied) == 2 and not copied[0].xpath(".//@data-links")
    assert [s.get("data-paragraph") for s in document.xpath("//section")] == ["0", "1"]


def test_html_words_cut_at_alignment_edges_link_both_ways():
    # A link whose spans fall inside words still marks exactly those letters.
    response = pb.TranslateDocumentResponse(source_language_code="fr", target_language_code="en", segments=[
        pb.Segment(source_text="aujourd'hui", target_text="to-day", alignments=[
            pb.WordAlignment(source_span=span(0, 7), target_span=span(3, 6)),
            pb.WordAlignment(source_span=span(8, 11), target_span=span(3, 6)),
            pb.WordAlignment(source_span=span(0, 99), target_span=span(0, 2)),  # out of range: ignored
        ])])
    document = lxml_html.document_fromstring(written(write_html, response))
    words = {w.get("id"): (w.text, (w.get("data-links") or "").split()) for w in document.xpath("//span[@id][contains(@class, 'w')]")}
    assert words == {"s0-0": ("aujourd", ["t0-1"]), "s0-1": ("'", []), "s0-2": ("hui", ["t0-1"]),
                     "t0-0": ("to-", []), "t0-1": ("day", ["s0-0", "s0-2"])}


def test_html_of_a_missing_entity_and_no_segments():
    response = pb.TranslateDocumentResponse(segments=[pb.Segment(
        source_text="Xi Jinping parle.", target_text="He speaks.",
        entities=[pb.Entity(label="PER", source_span=span(0, 10), expected_text="Xi Jinping", status=pb.Entity.MISSING)])])
    document = lxml_html.document_fromstring(written(write_html, response))
    entity = document.xpath("//span[contains(@class, 'entity') and @data-label]")
    assert len(entity) == 1 and "missing" in entity[0].get("class")
    assert [w.text for w in entity[0].xpath("span")] == ["Xi", "Jinping"]
    empty = lxml_html.document_fromstring(written(write_html, pb.TranslateDocumentResponse()))
    assert not empty.xpath("//section")


# ---------------------------------------------------------------- readers and round trips

# Every character but surrogates (which protobuf strings cannot hold) ...
ANY_CHAR = st.characters(exclude_categories=("Cs",))
# ... and those XML 1.0 can carry.
XML_CHAR = st.characters(
    exclude_categories=("Cs",),
    exclude_characters=[chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"] + ["\ufffe", "\uffff"],
)


@st.composite
def documents(draw, alphabet=XML_CHAR, full: bool = False) -> pb.TranslateDocumentResponse:
    """Segments in document order with consistent spans; with `full`, every Segment field."""
    text = st.text(alphabet, max_size=40)
    segments, cursor, paragraph = [], 0, 0
    for index in range(draw(st.integers(0, 5))):
        source, target = draw(text), draw(text)
        cursor += draw(st.integers(0, 3))
        paragraph += draw(st.integers(0, 1))
        segment = pb.Segment(index=index, paragraph=paragraph, source_span=span(cursor, cursor + len(source)),
                             source_text=source, target_text=target)
        cursor += len(source)
        if full:
            spans_of = lambda t: st.tuples(st.integers(0, len(t)), st.integers(0, len(t))).map(lambda p: span(min(p), max(p)))
            for source_span, target_span in draw(st.lists(st.tuples(spans_of(source), spans_of(target)), max_size=4)):
                segment.alignments.add(source_span=source_span, target_span=target_span)
            for _ in range(draw(st.integers(0, 2))):
                segment.entities.add(label=draw(text), source_span=draw(spans_of(source)), target_span=draw(spans_of(target)),
                                     expected_text=draw(text), status=draw(st.sampled_from(pb.Entity.Status.values())))
            segment.score = draw(st.floats(width=32, allow_nan=False))
            segment.copied = draw(st.booleans())
        segments.append(segment)
    languages = st.sampled_from(["fr", "en", "de-CH", "zh-Hant", "pt-BR"])
    return pb.TranslateDocumentResponse(document_id=draw(text), model=draw(text), segments=segments,
                                        source_language_code=draw(languages), target_language_code=draw(languages))


def basics(segments) -> list[tuple]:
    return [(s.index, s.paragraph, s.source_span.start, s.source_span.end, s.source_text, s.target_text) for s in segments]


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(documents(ANY_CHAR, full=True))
@example(pb.TranslateDocumentResponse(segments=[pb.Segment(score=-3.4028234663852886e38), pb.Segment(score=float("inf"))]))
def test_jsonl_round_trip_keeps_every_field(response):
    assert read_jsonl(io.StringIO(written(write_jsonl, response))) == list(response.segments)


@FAST
@given(documents(XML_CHAR))
def test_tmx_round_trip(response):
    text = written(write_tmx, response)
    assert TMX_DTD.validate(etree.fromstring(text.encode("utf-8"))), TMX_DTD.error_log.filter_from_errors()
    assert basics(read_tmx(io.StringIO(text))) == basics(response.segments)


@FAST
@given(documents(ANY_CHAR, full=True))
def test_xliff_round_trip_even_with_characters_xml_cannot_carry(response):
    text = written(write_xliff, response)
    assert xliff_problems(parse_xliff(text)) == []
    back = read_xliff(io.StringIO(text))
    assert basics(back) == basics(response.segments)
    assert [s.copied for s in back] == [s.copied for s in response.segments]
    assert [s.score for s in back] == pytest.approx([s.score for s in response.segments], rel=1e-5)


def test_tmx_from_the_cli_reads_back(server, capsys):
    code = main(["translate", str(SEED_FR), "--format", "tmx", "--beam-size", "1", "--server", server.address])
    tmx = capsys.readouterr().out
    code_jsonl = main(["translate", str(SEED_FR), "--format", "jsonl", "--beam-size", "1", "--server", server.address])
    jsonl = capsys.readouterr().out
    assert code == code_jsonl == 0
    assert basics(read_tmx(io.StringIO(tmx))) == basics(read_jsonl(io.StringIO(jsonl)))
    assert len(json.loads(jsonl.splitlines()[0])["alignments"]) > 0


def test_tmx_reader_picks_the_source_by_language():
    tmx = """<tmx version="1.4"><header srclang="EN" creationtool="x" creationtoolversion="1" segtype="sentence"
    o-tmf="x" adminlang="en" datatype="plaintext"/><body>
    <tu><tuv xml:lang="fr"><seg>Bonjour <ph>&lt;br/&gt;</ph>tout <hi>le</hi> monde</seg></tuv>
        <tuv xml:lang="en-GB"><seg>ignored</seg></tuv><tuv xml:lang="en"><seg>Hello</seg></tuv></tu>
    </body></tmx>"""
    [segment] = read_tmx(io.StringIO(tmx))
    assert (segment.index, segment.source_text, segment.target_text) == (0, "Hello", "Bonjour tout le monde")
