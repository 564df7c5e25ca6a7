"""Build a tiny random-weight French→English model for tests.

It goes through every real step a trained model takes — SentencePiece
training, a Hugging Face Marian directory, CTranslate2's converter, the
manifest — so tests exercise the production code path in seconds. Its
translations are noise, and its manifest says so (`test_only`).

    python -m alinea.models.tiny OUT_DIR [--corpus FR.txt EN.txt]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from alinea.models.convert import convert
from alinea.models.manifest import Manifest
from alinea.models.marian import marian_config, train_sentencepiece, write_tokenizer

TINY_NAME = "tiny-random-fr-en"


def build_tiny_model(output_dir: Path, source_corpus: Path, target_corpus: Path, *, vocab_size: int = 200, seed: int = 0) -> Manifest:
    """Write a servable random-weight fr→en model directory to output_dir."""
    import torch
    from transformers import MarianMTModel

    with tempfile.TemporaryDirectory(prefix="alinea-tiny-") as tmp:
        work = Path(tmp)
        source_spm = train_sentencepiece(source_corpus, work / "source", vocab_size)
        target_spm = train_sentencepiece(target_corpus, work / "target", vocab_size)
        hf_dir = work / "hf"
        size = write_tokenizer(hf_dir, source_spm, target_spm, "fr", "en")
        torch.manual_seed(seed)
        config = marian_config(size, d_model=32, layers=(1, 1), heads=2, ffn_dim=64, max_positions=1024)
        MarianMTModel(config).save_pretrained(hf_dir)
        return convert(
            hf_dir,
            output_dir,
            source_language="fr",
            target_language="en",
            name=TINY_NAME,
            quantization="int8",
            description="random weights, for tests only: its translations are noise",
            test_only=True,
            force=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--corpus", nargs=2, type=Path, metavar=("SOURCE", "TARGET"), required=True,
                        help="text files to train the SentencePiece models on (e.g. seeds/kremlin-pekin.fr.txt and .en.ref.txt)")
    args = parser.parse_args(argv)
    manifest = build_tiny_model(args.output_dir, *args.corpus)
    print(f"wrote {args.output_dir} ({manifest.name})")


if __name__ == "__main__":
    main()
