"""Lay out a Hugging Face Marian directory, the form OPUS-MT models ship in.

Models trained here and the tiny test model are written exactly like
Helsinki-NLP/opus-mt-* on the Hub (source.spm, target.spm, a joint
vocab.json, config.json, weights), so that transformers' MarianTokenizer and
CTranslate2's TransformersConverter take them unchanged: our models and
downloaded ones follow one code path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

# Marian's conventions: </s> is id 0, <unk> id 1, <pad> the last id, and the
# decoder starts from <pad>.
EOS, UNK, PAD = "</s>", "<unk>", "<pad>"


def train_sentencepiece(corpus: Path, model_prefix: Path, vocab_size: int, user_symbols: list[str] | None = None) -> Path:
    """Train a unigram SentencePiece model on one side's text; returns the .model path."""
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(model_prefix),
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        # Marian adds </s> itself and has no <s>; only <unk> lives in the spm.
        unk_id=0,
        bos_id=-1,
        eos_id=-1,
        pad_id=-1,
        user_defined_symbols=user_symbols or [],
        input_sentence_size=2_000_000,
        shuffle_input_sentence=True,
        num_threads=2,
        minloglevel=2,
    )
    return model_prefix.with_suffix(".model")


def joint_vocabulary(source_spm: Path, target_spm: Path) -> list[str]:
    """The joint vocabulary: </s>, <unk>, every piece of both models once, <pad>."""
    import sentencepiece as spm

    tokens = [EOS, UNK]
    seen = set(tokens)
    for path in (source_spm, target_spm):
        processor = spm.SentencePieceProcessor(model_file=str(path))
        for i in range(processor.get_piece_size()):
            piece = processor.id_to_piece(i)
            if piece not in seen:
                seen.add(piece)
                tokens.append(piece)
    tokens.append(PAD)
    return tokens


def write_tokenizer(hf_dir: Path, source_spm: Path, target_spm: Path, source_lang: str, target_lang: str) -> int:
    """Copy the .spm files, write vocab.json and the tokenizer config; returns the vocabulary size."""
    hf_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source_spm, hf_dir / "source.spm")
    shutil.copyfile(target_spm, hf_dir / "target.spm")
    tokens = joint_vocabulary(source_spm, target_spm)
    vocab = {token: i for i, token in enumerate(tokens)}
    (hf_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (hf_dir / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "MarianTokenizer",
                "source_lang": source_lang,
                "target_lang": target_lang,
                "eos_token": EOS,
                "unk_token": UNK,
                "pad_token": PAD,
                "model_max_length": 512,
                "separate_vocabs": False,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return len(tokens)


def marian_config(vocab_size: int, *, d_model: int, layers: tuple[int, int], heads: int, ffn_dim: int, max_positions: int = 512, dropout: float = 0.1):
    """A MarianConfig with OPUS-MT's conventions (tied embeddings, sinusoidal positions)."""
    from transformers import MarianConfig

    return MarianConfig(
        vocab_size=vocab_size,
        decoder_vocab_size=vocab_size,
        d_model=d_model,
        encoder_layers=layers[0],
        decoder_layers=layers[1],
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        encoder_ffn_dim=ffn_dim,
        decoder_ffn_dim=ffn_dim,
        activation_function="swish",
        max_position_embeddings=max_positions,
        dropout=dropout,
        attention_dropout=0.0,
        activation_dropout=0.0,
        scale_embedding=True,
        static_position_embeddings=True,
        share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True,
        eos_token_id=0,
        forced_eos_token_id=0,
        pad_token_id=vocab_size - 1,
        decoder_start_token_id=vocab_size - 1,
        num_beams=4,
        max_length=256,
    )
