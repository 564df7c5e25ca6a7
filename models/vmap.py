"""Build a model's vocabulary map (vmap.txt): the target pieces worth scoring for each source piece.

At every decoding step the model scores all of its target pieces (14,629
for the default model), and with a small model that output layer, its
softmax and the beam's top-k are most of the work. CTranslate2 can score
only a batch's candidates instead (`use_vmap`): the union, over the
batch's source pieces, of each piece's candidates in `vmap.txt`, plus a
fixed set that is always scored. Those candidates are learned here from a
parallel corpus, the way Marian's lexical shortlists are:

- the fixed set: the `--fixed` most frequent target pieces (function words,
  punctuation), with <unk>, <s> and </s>, which CTranslate2 adds itself;
- for each source piece, the `--per-source` target pieces that share the
  most sentence pairs with it, outside the fixed set, if they share at
  least `--min-count`; and the piece itself where the target vocabulary
  has it, since names and numbers are copied.

    python -m alinea.models.vmap models/alinea-fr-en \\
        --corpus ../shared/data/train/tatoeba.fr.gz ../shared/data/train/tatoeba.en.gz \\
        --corpus ../shared/data/train/hansard36.fr.gz ../shared/data/train/hansard36.en.gz

alinea-server uses the map of every model directory that has one
(`--no-vocabulary-map` turns it off); `python bench/threads.py` shows the
time and BLEU with and without it.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sentencepiece as spm

from alinea.server.translate import VMAP

# CTranslate2's names for the target vocabulary: a shared one, or the target side's own.
VOCABULARIES = ("shared_vocabulary.json", "target_vocabulary.json")


def target_vocabulary(model_dir: Path) -> list[str]:
    for name in VOCABULARIES:
        if (model_dir / name).is_file():
            return json.loads((model_dir / name).read_text(encoding="utf-8"))
    raise FileNotFoundError(f"{model_dir}: no {' or '.join(VOCABULARIES)}")


def _lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            yield line.rstrip("\n")


@dataclass(frozen=True)
class Cooccurrences:
    """Sentence pairs in which each (source piece, target piece) occurs, each piece counted once per pair."""

    pairs: np.ndarray  # source piece id (source.spm) × target vocabulary size + target id, sorted
    counts: np.ndarray  # sentence pairs sharing each of `pairs`
    target_counts: np.ndarray  # sentence pairs containing each target id


def cooccurrences(source_model: spm.SentencePieceProcessor, target_vocabulary: list[str],
                  target_model: spm.SentencePieceProcessor, corpora: list[tuple[Path, Path]],
                  chunk: int = 20_000) -> Cooccurrences:
    """Counts over every line pair of `corpora`, read `chunk` pairs at a time; memory follows the distinct
    piece pairs, not the corpus."""
    index = {piece: i for i, piece in enumerate(target_vocabulary)}
    size = len(target_vocabulary)
    target_counts = np.zeros(size, dtype=np.int64)
    pairs, counts = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    for source_path, target_path in corpora:
        lines = zip(_lines(source_path), _lines(target_path), strict=True)
        try:
            while batch := list(itertools.islice(lines, chunk)):
                sources = source_model.encode([s for s, _ in batch])
                targets = target_model.encode([t for _, t in batch], out_type=str)
                codes = []
                for source, target in zip(sources, targets):
                    source_ids = np.unique(np.asarray(source, dtype=np.int64))
                    target_ids = np.unique(np.asarray([index[p] for p in target if p in index], dtype=np.int64))
                    target_counts[target_ids] += 1
                    codes.append((source_ids[:, None] * size + target_ids[None, :]).ravel())
                new, new_counts = np.unique(np.concatenate(codes), return_counts=True)
                pairs, inverse = np.unique(np.concatenate([pairs, new]), return_inverse=True)
                counts = np.bincount(inverse, weights=np.concatenate([counts, new_counts]),
                                     minlength=pairs.size).astype(np.int64)
        except ValueError:
            raise ValueError(f"{source_path} and {target_path} do not have the same number of lines") from None
    return Cooccurrences(pairs, counts, target_counts)


def vocabulary_map(model_dir: Path, corpora: list[tuple[Path, Path]], *, fixed: int = 500, per_source: int = 20,
                   min_count: int = 2) -> list[str]:
    """The lines of vmap.txt: the fixed set under the empty key, then one line per source piece."""
    source_model = spm.SentencePieceProcessor(model_file=str(model_dir / "source.spm"))
    target_model = spm.SentencePieceProcessor(model_file=str(model_dir / "target.spm"))
    vocabulary = target_vocabulary(model_dir)
    counted = cooccurrences(source_model, vocabulary, target_model, corpora)
    always = np.argsort(-counted.target_counts, kind="stable")[:fixed]
    always = always[counted.target_counts[always] > 0]
    in_fixed = np.zeros(len(vocabulary), dtype=bool)
    in_fixed[always] = True
    copyable = {piece for piece, fixed_piece in zip(vocabulary, in_fixed) if not fixed_piece}
    sources, targets = np.divmod(counted.pairs, len(vocabulary))
    keep = ~in_fixed[targets] & (counted.counts >= min_count)
    sources, targets, counts = sources[keep], targets[keep], counted.counts[keep]
    # By source piece, then most shared first (ties: the lower vocabulary id, for a stable file).
    order = np.lexsort((targets, -counts, sources))
    sources, targets = sources[order], targets[order]
    starts = np.searchsorted(sources, np.arange(source_model.get_piece_size() + 1))
    lines = ["\t" + " ".join(vocabulary[i] for i in always)]
    for source_id in range(source_model.get_piece_size()):
        if source_model.is_control(source_id) or source_model.is_unknown(source_id):
            continue
        piece = source_model.id_to_piece(source_id)
        candidates = [vocabulary[t] for t in targets[starts[source_id]:starts[source_id + 1]][:per_source]]
        if piece in copyable and piece not in candidates:
            candidates.append(piece)  # copied as is: names, numbers
        if candidates:
            lines.append(piece + "\t" + " ".join(candidates))
    return lines


def write(model_dir: Path, corpora: list[tuple[Path, Path]], **options) -> str:
    """Write model_dir/vmap.txt from `corpora` (options: those of vocabulary_map); a one-line summary."""
    lines = vocabulary_map(model_dir, corpora, **options)
    output = model_dir / VMAP
    output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    candidates = sum(len(line.split("\t")[1].split()) for line in lines[1:])
    return (f"wrote {output}: {len(lines[0].split())} pieces always scored, {len(lines) - 1} source pieces with "
            f"{candidates / max(1, len(lines) - 1):.1f} candidates each on average")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alinea.models.vmap", description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path, help="the CTranslate2 model directory; vmap.txt is written into it")
    parser.add_argument("--corpus", nargs=2, action="append", type=Path, required=True, metavar=("SOURCE", "TARGET"),
                        help="a line-aligned pair of text files (.gz too); repeatable")
    parser.add_argument("--fixed", type=int, default=500, help="most frequent target pieces always scored (default 500)")
    parser.add_argument("--per-source", type=int, default=20, help="candidates per source piece (default 20)")
    parser.add_argument("--min-count", type=int, default=2, help="sentence pairs a candidate must share (default 2)")
    args = parser.parse_args(argv)
    for path in [p for pair in args.corpus for p in pair]:
        if not path.is_file():
            parser.error(f"{path}: no such file")
    try:
        print(write(args.model_dir, [tuple(pair) for pair in args.corpus], fixed=args.fixed,
                    per_source=args.per_source, min_count=args.min_count))
    except (OSError, ValueError) as exc:
        print(f"alinea.models.vmap: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
