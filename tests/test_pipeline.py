import pytest

from alinea.server.pipeline import MAX_SOURCE_PIECES, DocumentTooLong, Pipeline, assemble
from alinea.server.records import TranslationOptions
from conftest import SEED_FR


def check_segments(text, segments):
    last_end = 0
    for i, s in enumerate(segments):
        assert s.index == i
        assert s.source_span.start >= last_end
        assert text[s.source_span.start : s.source_span.end] == s.source_text
        last_end = s.source_span.end
        for a in s.alignments:
            assert 0 <= a.source.start < a.source.end <= len(s.source_text)
            assert 0 <= a.target.start < a.target.end <= len(s.target_text)
    covered = {i for s in segments for i in range(s.source_span.start, s.source_span.end)}
    assert {i for i, c in enumerate(text) if not c.isspace()} <= covered


def test_seed_article(tiny_model):
    text = SEED_FR.read_text(encoding="utf-8")
    document = Pipeline(tiny_model).translate(text, TranslationOptions(beam_size=1))
    assert document.model == "tiny-random-fr-en"
    assert (document.source_language, document.target_language) == ("fr", "en")
    assert len(document.segments) == 19
    check_segments(text, document.segments)
    stray = document.segments[9]
    assert (stray.source_text, stray.target_text, stray.copied, stray.alignments) == ("L", "L", True, ())
    translated = [s for s in document.segments if not s.copied]
    assert all(s.target_text and s.score < 0 for s in translated)
    assert any(s.alignments for s in translated)
    # Paragraph structure survives in the assembled text.
    assert document.translated_text.count("\n\n") == text.count("\n\n")


def test_alignment_can_be_switched_off(tiny_model):
    document = Pipeline(tiny_model).translate("Bonjour le monde.", TranslationOptions(beam_size=1, word_alignment=False))
    assert document.segments[0].alignments == ()


def test_streaming_gives_the_same_segments(tiny_model):
    text = SEED_FR.read_text(encoding="utf-8")
    pipeline = Pipeline(tiny_model)
    options = TranslationOptions(beam_size=1)
    assert list(pipeline.iter_segments(text, options)) == pipeline.translate(text, options).segments


def test_identical_sentences_are_translated_once(tiny_model, monkeypatch):
    pipeline = Pipeline(tiny_model)
    calls = []
    original = tiny_model.translator.translate_each

    def spy(batch, **kwargs):
        calls.append(len(batch))
        return original(batch, **kwargs)

    monkeypatch.setattr(tiny_model.translator, "translate_each", spy)
    document = pipeline.translate("Merci beaucoup.\nMerci beaucoup.\nAu revoir.", TranslationOptions(beam_size=1))
    assert calls == [2]
    assert document.segments[0].target_text == document.segments[1].target_text


def test_sentences_with_too_many_pieces_are_cut(tiny_model):
    # No punctuation and rare characters: many pieces, no sentence boundary.
    text = " ".join(["ʤʥʦ"] * 300)
    assert len(tiny_model.tokenizer.encode(text).tokens) > MAX_SOURCE_PIECES
    segments = Pipeline(tiny_model).translate(text, TranslationOptions(beam_size=1)).segments
    assert len(segments) > 1
    check_segments(text, segments)
    assert all(len(tiny_model.tokenizer.encode(s.source_text).tokens) <= MAX_SOURCE_PIECES for s in segments)


def test_assemble_keeps_the_source_whitespace():
    from alinea.server.records import Segment, Span

    text = "  Un. Deux.\n\nTrois.\n"
    segments = [
        Segment(0, 0, Span(2, 5), "Un.", "One."),
        Segment(1, 0, Span(6, 11), "Deux.", "Two."),
        Segment(2, 1, Span(13, 19), "Trois.", "Three."),
    ]
    assert assemble(text, segments) == "  One. Two.\n\nThree.\n"


def test_sentence_limit(tiny_model):
    pipeline = Pipeline(tiny_model, max_sentences=3)
    with pytest.raises(DocumentTooLong, match="more than 3 sentences"):
        pipeline.translate("Un. Deux. Trois. Quatre.", TranslationOptions(beam_size=1))
    assert len(pipeline.translate("Un. Deux. Trois.", TranslationOptions(beam_size=1)).segments) == 3
