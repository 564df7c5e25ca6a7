from alinea.server.tokenize import SourceTokenizer, TargetDetokenizer


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
