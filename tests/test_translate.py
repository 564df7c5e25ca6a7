"""CTranslate2 behind alinea.server.translate: which attention rows a hypothesis carries, and decoding limits."""

from alinea.server.tokenize import EOS
from alinea.server.translate import LENGTH_BUCKET, TranslatorSettings


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
                                                    max_input_length=0,
                                                    max_decoding_length=tiny_model.translator.settings.decoding_limit(len(batch[0])))[0]
    assert aligned.attention == raw.attention[0][1 : len(aligned.tokens) + 1]


def test_decoding_limit_follows_the_source_length_rounded_up_to_its_bucket():
    settings = TranslatorSettings(length_ratio=2.0, length_margin=10, max_decoding_length=512)
    assert settings.decoding_limit(1) == settings.decoding_limit(LENGTH_BUCKET) == 2 * LENGTH_BUCKET + 10
    assert settings.decoding_limit(LENGTH_BUCKET + 1) == 4 * LENGTH_BUCKET + 10
    assert settings.decoding_limit(10_000) == 512
    assert settings.by_decoding_limit([3, 30, 5, 300]) == {26: [0, 2], 74: [1], 512: [3]}


def test_a_sentence_decodes_to_its_own_limit_whatever_shares_its_batch(tiny_model):
    # The tiny model is random: it rarely writes </s>, so it decodes up to the limit.
    short = [*tiny_model.tokenizer.encode("Le Kremlin.").tokens, EOS]
    long = [*tiny_model.tokenizer.encode(" ".join(["Le Kremlin a revendiqué une victoire diplomatique."] * 6)).tokens, EOS]
    limits = tiny_model.translator.settings
    assert limits.decoding_limit(len(short)) < limits.decoding_limit(len(long))
    alone = tiny_model.translator.translate([short], beam_size=2, attention=False)[0]
    together = tiny_model.translator.translate([long, short, long], beam_size=2, attention=True)
    assert len(alone.tokens) <= limits.decoding_limit(len(short))
    assert together[1].tokens == alone.tokens
    assert together[0].tokens == together[2].tokens and len(together[0].tokens) <= limits.decoding_limit(len(long))
