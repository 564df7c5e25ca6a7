"""Guided alignment: statistical word alignments that teach one attention head to align.

The server's word alignments are the cross-attention CTranslate2 returns:
the last decoder layer's first head (what TransformersConverter sets as
``alignment_layer``/``alignment_heads``). Left to itself that head learns
whatever helps translation, which aligns poorly (AER 0.63 on the Hansards
gold set for the first exported model). Marian's guided alignment, which
OPUS-MT models are trained with, adds a loss that pulls the head towards
the links of a statistical aligner. Here the aligner is eflomal, run over
the training corpus's own SentencePiece pieces, so its links join exactly
the tokens the model reads and writes and need no mapping.

The WPT-2003 gold sentence pairs ride along, unlabelled, in the same
eflomal run (as is usual for an unsupervised aligner), so the teacher's own
AER is measured on the set the model is measured on; the gold links are
never used for training.

    python -m alinea.models.train.guide --work-dir ~/.cache/alinea/train/fr-en

writes ``data/train.align.npz`` and ``data/teacher-aer.json``; training
with ``--guided-alignment WEIGHT`` builds them first when they are missing.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from alinea.models.train.tokenize import TOKENIZER_DIR, Encoded, load_split
from alinea.server.align import Link, _word_of, grow_diag
from alinea.server.alignment_eval import GOLD_DIR, SETS, GoldPair, load_gold, score, token_spans
from alinea.server.tokenize import SourceTokenizer

log = logging.getLogger("alinea.train")
LINKS = "train.align.npz"
TEACHER_AER = "teacher-aer.json"


def piece_lines(encoded: Encoded, pieces: Sequence[str]) -> list[str]:
    """Each sentence as its pieces joined by spaces, without the trailing </s>."""
    return [" ".join(pieces[t] for t in encoded.sentence(i)[:-1]) for i in range(len(encoded))]


def pharaoh_links(line: str) -> set[Link]:
    """Links written "i-j i-j …" (source index, target index), as eflomal writes them."""
    return {(int(i), int(j)) for i, j in (item.split("-") for item in line.split())}


def symmetrize(forward: set[Link], backward: set[Link]) -> set[Link]:
    """grow-diag-final-and (Koehn et al. 2003): the intersection, grown towards the union,
    then directional links that join two words both still unaligned."""
    links = grow_diag(forward & backward, forward | backward)
    source_aligned, target_aligned = {i for i, _ in links}, {j for _, j in links}
    for direction in (forward, backward):
        for i, j in sorted(direction - links):
            if i not in source_aligned and j not in target_aligned:
                links.add((i, j))
                source_aligned.add(i)
                target_aligned.add(j)
    return links


def eflomal_links(sources: Sequence[str], targets: Sequence[str]) -> list[set[Link]]:
    """Symmetrized eflomal links for every pair of space-separated token lines."""
    import eflomal

    with tempfile.TemporaryDirectory() as tmp:
        forward, backward = Path(tmp) / "fwd", Path(tmp) / "rev"
        eflomal.Aligner().align(sources, targets, links_filename_fwd=str(forward), links_filename_rev=str(backward))
        with open(forward, encoding="utf-8") as fwd, open(backward, encoding="utf-8") as rev:
            return [symmetrize(pharaoh_links(f), pharaoh_links(r)) for f, r in zip(fwd, rev, strict=True)]


def save_links(path: Path, alignments: Iterable[set[Link]]) -> None:
    """All pairs' links as one (n, 2) int16 array of (source piece, target piece) plus offsets."""
    flat, offsets = [], [0]
    for links in alignments:
        flat.extend(sorted(links))
        offsets.append(len(flat))
    np.savez(path, links=np.asarray(flat, dtype=np.int16).reshape(-1, 2), offsets=np.asarray(offsets, dtype=np.int64))


class Links:
    """The stored links of every training pair, indexed like the encoded corpus."""

    def __init__(self, path: Path):
        data = np.load(path)
        self.links, self.offsets = data["links"], data["offsets"]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def of(self, i: int) -> np.ndarray:
        return self.links[self.offsets[i] : self.offsets[i + 1]]


class GoldPieces:
    """A gold pair split into the model's pieces, with each piece's gold token."""

    def __init__(self, pair: GoldPair, source: SourceTokenizer, target: SourceTokenizer):
        source_text, source_tokens = token_spans(pair.source)
        target_text, target_tokens = token_spans(pair.target)
        self.source, self.target = source.encode(source_text), target.encode(target_text)
        self.source_word = _word_of(self.source.spans, source_tokens)
        self.target_word = _word_of(self.target.spans, target_tokens)

    def lines(self) -> tuple[str, str]:
        return " ".join(self.source.tokens), " ".join(self.target.tokens)

    def word_links(self, piece_links: set[Link]) -> set[Link]:
        """Two gold tokens are linked when any of their pieces are."""
        return {(self.source_word[i], self.target_word[j]) for i, j in piece_links
                if self.source_word[i] is not None and self.target_word[j] is not None}


def build(work_dir: Path, gold_dir: Path = GOLD_DIR) -> dict[str, dict]:
    """Align the training corpus (with the gold pairs alongside), save the links and score the teacher."""
    tok_dir = work_dir / TOKENIZER_DIR
    vocab = json.loads((tok_dir / "vocab.json").read_text(encoding="utf-8"))
    pieces = [""] * len(vocab)
    for piece, index in vocab.items():
        pieces[index] = piece
    src, tgt = load_split(work_dir / "data" / "train.npz")
    sources, targets = piece_lines(src, pieces), piece_lines(tgt, pieces)
    source_tokenizer, target_tokenizer = SourceTokenizer(tok_dir / "source.spm"), SourceTokenizer(tok_dir / "target.spm")
    gold = {name: load_gold(gold_dir, name) for name in SETS}
    gold_pieces = {name: [GoldPieces(pair, source_tokenizer, target_tokenizer) for pair in pairs] for name, pairs in gold.items()}
    for items in gold_pieces.values():
        for item in items:
            source_line, target_line = item.lines()
            sources.append(source_line)
            targets.append(target_line)
    log.info("eflomal: aligning %d training pairs and %d gold pairs", len(src), len(sources) - len(src))
    alignments = eflomal_links(sources, targets)
    save_links(work_dir / "data" / LINKS, alignments[: len(src)])
    results, cursor = {}, len(src)
    for name, items in gold_pieces.items():
        predicted = [item.word_links(links) for item, links in zip(items, alignments[cursor : cursor + len(items)])]
        cursor += len(items)
        results[name] = asdict(score(predicted, gold[name]))
    (work_dir / "data" / TEACHER_AER).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    log.info("eflomal teacher on the Hansards gold sets: %s", json.dumps(results))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alinea.models.train.guide", description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, required=True, help="a training work dir whose data/train.npz exists")
    parser.add_argument("--gold-dir", type=Path, default=GOLD_DIR, help="folder of the hansards-* files (default %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    results = build(args.work_dir.expanduser().resolve(), args.gold_dir)
    for name, s in results.items():
        print(f"eflomal teacher, {name} set: precision {s['precision']:.4f}  recall {s['recall']:.4f}  AER {s['aer']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
