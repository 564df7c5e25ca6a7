from alinea.server.segment import segment
from alinea.server.tokenize import SourceTokenizer, TargetDetokenizer

from conftest import SEED_FR


def test_source_piece_spans_point_into_the_original_text(tiny_model_dir):
    tokenizer = SourceTokenizer(tiny_model_dir / "source.spm")
    # NBSP and the "ﬁ" ligature are normalised by SentencePiece; spans must
    # still index the original code points.
    text = "Zhang, «\u00a0les ﬁns » 100.000 été"
    pieces = tokenizer.encode(text)
    assert len(pieces.tokens) == len(pieces.spans)
    previous_end = 0
    covered = set()
    for span in pieces.spans:
        assert previous_end <= span.start <= span.end <= len(text)
        previous_end = span.end
        covered.update(range(span.start, span.end))
    assert {i for i, c in enumerate(text) if not c.isspace()} <= covered
    piece = pieces.tokens.index("\u2581été") if "\u2581été" in pieces.tokens else None
    if piece is not None:
        assert pieces.spans[piece].of(text).strip() == "été"


def test_spans_from_piece_lengths_equal_sentencepieces_offsets(tiny_model_dir):
    """Where normalisation only turns spaces into word marks, piece lengths give SentencePiece's own offsets;
    where it does more (a ligature, two spaces in a row), the offsets are read."""
    tokenizer = SourceTokenizer(tiny_model_dir / "source.spm")
    sentences = [s.text for line in SEED_FR.read_text(encoding="utf-8").splitlines() for s in segment(line)]
    sentences += ["À 11\u00a0h\u00a020, il a dit\u2009: «\u202fnon\u202f».",
                  "Ωmega ☃ inconnus, 3,5 % à Zürich."]  # pieces unknown to the model
    by_lengths = [(text, tokenizer._encode_by_lengths(text)) for text in sentences]
    assert all(pieces is not None for _, pieces in by_lengths[-2:])
    assert sum(pieces is not None for _, pieces in by_lengths) >= len(sentences) - 2
    for text, pieces in by_lengths:
        if pieces is not None:
            assert pieces == tokenizer._encode_with_offsets(text), text
    assert "<unk>" in tokenizer.encode(sentences[-1]).tokens
    for normalised in ("les ﬁns", "les  fins", "les\u3000fins"):
        assert tokenizer._encode_by_lengths(normalised) is None
        assert tokenizer.encode(normalised) == tokenizer._encode_with_offsets(normalised)


def test_target_detokenizer_matches_sentencepiece(tiny_model_dir):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(tiny_model_dir / "target.spm"))
    detok = TargetDetokenizer(tiny_model_dir / "target.spm")
    sentence = "The Kremlin claimed Beijing's support on February 2."
    tokens = sp.encode(sentence, out_type=str)
    text, spans = detok.decode(tokens)
    assert text == sp.decode(tokens)
    for token, span in zip(tokens, spans):
        assert text[span.start : span.end] == token.replace("\u2581", " ").strip()


def test_target_detokenizer_edge_cases(tiny_model_dir):
    detok = TargetDetokenizer(tiny_model_dir / "target.spm")
    assert detok.decode([]) == ("", [])
    text, spans = detok.decode(["\u2581", "\u2581Hi", "\u2581"])
    assert text == "Hi"
    assert all(0 <= s.start <= s.end <= len(text) for s in spans)
