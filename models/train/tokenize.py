"""SentencePiece models and the token-id arrays the trainer reads.

Source and target get separate unigram models (the OPUS-MT layout); their
pieces are merged into one joint vocabulary (vocab.json) because Marian
shares one embedding matrix between encoder, decoder and output layer.
Encoding the whole corpus once, up front, keeps the training loop free of
tokenizer work: each side is stored as one flat int32 array plus offsets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alinea.models.marian import EOS, train_sentencepiece, write_tokenizer

TOKENIZER_DIR = "tokenizer"  # work-dir subfolder laid out as a Hugging Face Marian dir (no weights)


def build_tokenizer(prepared: Path, work_dir: Path, source_vocab: int, target_vocab: int) -> Path:
    """Train both SentencePiece models and write the tokenizer files; returns the tokenizer dir."""
    spm_dir = work_dir / "spm"
    spm_dir.mkdir(parents=True, exist_ok=True)
    source_spm = train_sentencepiece(prepared / "train.fr", spm_dir / "source", source_vocab)
    target_spm = train_sentencepiece(prepared / "train.en", spm_dir / "target", target_vocab)
    tok_dir = work_dir / TOKENIZER_DIR
    write_tokenizer(tok_dir, source_spm, target_spm, "fr", "en")
    return tok_dir


@dataclass
class Encoded:
    """One side of a corpus as token ids of the joint vocabulary, each sentence ending in </s>."""

    ids: np.ndarray  # int32, all sentences concatenated
    offsets: np.ndarray  # int64, len = sentences + 1

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sentence(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]


def _piece_to_vocab(spm_path: Path, vocab: dict[str, int]) -> np.ndarray:
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(spm_path))
    return np.array([vocab[processor.id_to_piece(i)] for i in range(processor.get_piece_size())], dtype=np.int32)


def encode_file(text_file: Path, spm_path: Path, vocab: dict[str, int]) -> Encoded:
    """Encode every line with the side's SentencePiece model, mapped into the joint vocabulary."""
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(spm_path))
    lookup = _piece_to_vocab(spm_path, vocab)
    lines = text_file.read_text(encoding="utf-8").splitlines()
    pieces = processor.encode(lines, out_type=int, num_threads=2)
    lengths = np.fromiter((len(p) + 1 for p in pieces), dtype=np.int64, count=len(pieces))
    offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.empty(offsets[-1], dtype=np.int32)
    eos = vocab[EOS]
    for i, p in enumerate(pieces):
        start, end = offsets[i], offsets[i + 1]
        ids[start : end - 1] = lookup[np.asarray(p, dtype=np.int64)] if p else []
        ids[end - 1] = eos
    return Encoded(ids, offsets)


def encode_split(prepared: Path, tok_dir: Path, split: str, out: Path) -> None:
    """Write out (an .npz) holding src_ids, src_offsets, tgt_ids, tgt_offsets for one split."""
    vocab = json.loads((tok_dir / "vocab.json").read_text(encoding="utf-8"))
    src = encode_file(prepared / f"{split}.fr", tok_dir / "source.spm", vocab)
    tgt = encode_file(prepared / f"{split}.en", tok_dir / "target.spm", vocab)
    np.savez(out, src_ids=src.ids, src_offsets=src.offsets, tgt_ids=tgt.ids, tgt_offsets=tgt.offsets)


def load_split(path: Path) -> tuple[Encoded, Encoded]:
    data = np.load(path)
    return Encoded(data["src_ids"], data["src_offsets"]), Encoded(data["tgt_ids"], data["tgt_offsets"])
