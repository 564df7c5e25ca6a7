"""Tune a converted model's beam-search length penalty on held-out FLORES-200 dev sentences.

A model early in training writes translations shorter than their
references (the shipped one, at length penalty 1, about two thirds of the
reference length: whole clauses go missing), and beam search, which sums
log-probabilities, prefers short hypotheses further. Dividing the score by
length ** penalty offsets that. The penalty is chosen on the dev sentences
after the first ``dev_sample`` (300), which the trainer uses to pick its
best checkpoint, so neither choice sees the other's data: the smallest
penalty whose BLEU is within 0.1 of the best one, as larger values change
little once the length is right and cost more on short sentences.

    python -m alinea.models.train.tune models/alinea-fr-en            # print the sweep
    python -m alinea.models.train.tune models/alinea-fr-en --write    # and store the choice in manifest.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from alinea.models.manifest import Manifest
from alinea.models.train.config import TrainConfig
from alinea.models.train.evaluate import DEV_REF, DEV_SRC, Translator, read_lines

PENALTIES = (0.6, 1.0, 1.5, 2.0, 2.5, 3.0)
# BLEU within this of the best counts as a tie; the smallest penalty among the tied wins.
TIE = 0.1


@dataclass(frozen=True)
class Trial:
    length_penalty: float
    bleu: float
    chrf: float
    length_ratio: float  # hypothesis length / reference length, in sacreBLEU's tokens


def sweep(model_dir: Path, penalties: tuple[float, ...] = PENALTIES, *, beam_size: int = 4, skip: int | None = None,
          limit: int | None = None, threads: int = 2) -> list[Trial]:
    """BLEU, chrF and length ratio for each penalty on dev lines [skip, skip + limit)."""
    import sacrebleu

    skip = TrainConfig().dev_sample if skip is None else skip
    end = None if limit is None else skip + limit
    sources, references = read_lines(DEV_SRC)[skip:end], read_lines(DEV_REF)[skip:end]
    trials = []
    for penalty in penalties:
        hypotheses = Translator(model_dir, threads, length_penalty=penalty).translate(sources, beam_size=beam_size)
        bleu = sacrebleu.corpus_bleu(hypotheses, [references])
        chrf = sacrebleu.corpus_chrf(hypotheses, [references])
        trials.append(Trial(penalty, round(bleu.score, 2), round(chrf.score, 2), round(bleu.sys_len / bleu.ref_len, 3)))
    return trials


def choose(trials: list[Trial]) -> Trial:
    """The smallest penalty whose BLEU is within TIE of the best."""
    best = max(t.bleu for t in trials)
    return min((t for t in trials if t.bleu >= best - TIE), key=lambda t: t.length_penalty)


def tune(model_dir: Path, *, write: bool = False, **kwargs) -> tuple[Trial, list[Trial]]:
    """Sweep, choose, and with `write` store the choice as the model's length_penalty."""
    trials = sweep(model_dir, **kwargs)
    chosen = choose(trials)
    if write:
        replace(Manifest.read(model_dir), length_penalty=chosen.length_penalty).write(model_dir)
    return chosen, trials


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alinea.models.train.tune", description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="converted model directory, e.g. models/alinea-fr-en")
    parser.add_argument("--write", action="store_true", help="store the chosen penalty in the model's manifest.json")
    parser.add_argument("--beam", type=int, default=4, help="beam size (default 4, the server's)")
    parser.add_argument("--penalties", type=float, nargs="+", default=list(PENALTIES), help="values to try")
    args = parser.parse_args(argv)
    chosen, trials = tune(args.model_dir, write=args.write, penalties=tuple(args.penalties), beam_size=args.beam)
    print("| length penalty | BLEU | chrF | length ratio |\n|---:|---:|---:|---:|")
    for t in trials:
        print(f"| {t.length_penalty:g} | {t.bleu:.2f} | {t.chrf:.2f} | {t.length_ratio:.3f} |")
    print(json.dumps({"chosen": asdict(chosen), "written": args.write}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
