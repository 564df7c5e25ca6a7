"""CTranslate2 behind alinea.server.translate: which attention rows a hypothesis carries."""

from alinea.server.tokenize import EOS


def test_attention_rows_are_the_steps_reading_each_target_token(tiny_model):
    pieces = tiny_model.tokenizer.encode("Le Kremlin a revendiqué une victoire diplomatique.")
    batch = [[*pieces.tokens, EOS]]
    plain = tiny_model.translator.translate(batch, beam_size=2, attention=False)[0]
    aligned = tiny_model.translator.translate(batch, beam_size=2, attention=True)[0]
    # Asking for attention changes neither the translation nor its tokens (no </s> left in them).
    assert aligned.tokens == plain.tokens and EOS not in aligned.tokens
    assert plain.attention == []
    # One row per token read: all of them when the model wrote </s>, all but the last at the length limit.
    assert len(aligned.attention) in (len(aligned.tokens), len(aligned.tokens) - 1)
    assert all(len(row) == len(batch[0]) and abs(sum(row) - 1) < 1e-3 for row in aligned.attention)
    # Row t is CTranslate2's step t + 1 (the step after the one that wrote token t).
    raw = tiny_model.translator._ct2.translate_batch(batch, beam_size=2, return_attention=True, return_end_token=True,
                                                    max_input_length=0, max_decoding_length=512)[0]
    assert aligned.attention == raw.attention[0][1 : len(aligned.tokens) + 1]
