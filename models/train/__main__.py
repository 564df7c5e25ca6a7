"""From raw corpora to a trained checkpoint, in one resumable command.

    python -m alinea.models.train --work-dir ~/.cache/alinea/train/RUN [--hours H]

Each stage is skipped when its output is already in the work dir, so the
same command both starts and resumes a run:

1. ``data/``: normalised, filtered, deduplicated pairs and a held-out split;
2. ``spm/``, ``tokenizer/``: SentencePiece models and the joint vocabulary;
3. ``data/*.npz``: the corpus as token ids, and with ``--guided-alignment``
   its eflomal word alignments (``alinea.models.train.guide``);
4. ``checkpoints/``: training, resumed from ``last.pt`` when present;
   ``curve.jsonl`` gets one line per evaluation, ``train.log`` the log.

Export the best checkpoint at any time, while training runs, with
``python -m alinea.models.train.export --work-dir DIR --output models/alinea-fr-en``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import fields
from pathlib import Path

from alinea.models.train.config import CONFIG, RESUME_MAY_CHANGE, TrainConfig, cpu_has_bf16

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = REPO.parent / "shared/data/train"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m alinea.models.train", description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, required=True, help="where data, tokenizer, checkpoints and logs go")
    parser.add_argument("--corpus-dir", type=Path, default=DEFAULT_CORPUS, help="folder of NAME.fr.gz/NAME.en.gz pairs (default %(default)s)")
    parser.add_argument("--heldout", type=int, default=2000, help="pairs held out of training (default 2000)")
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            kind = {"int": int, "float": float}.get(str(f.type), type(getattr(defaults, f.name)))
            parser.add_argument(flag, type=kind, default=None, help=f"default {getattr(defaults, f.name)}")
    return parser.parse_args(argv)


def resolve_config(work_dir: Path, args: argparse.Namespace) -> TrainConfig:
    """A new run takes defaults + flags; a resumed run keeps its saved config and accepts only RESUME_MAY_CHANGE."""
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}
    if (work_dir / CONFIG).is_file():
        config = TrainConfig.load(work_dir)
        fixed = {k: v for k, v in given.items() if k not in RESUME_MAY_CHANGE and getattr(config, k) != v}
        if fixed:
            raise SystemExit(f"{work_dir} already trains with {CONFIG}; these flags would change the model or "
                             f"optimisation: {sorted(fixed)}. Start a new work dir instead.")
        for key in RESUME_MAY_CHANGE:
            if key in given:
                setattr(config, key, given[key])
        return config
    given.setdefault("bf16", cpu_has_bf16())
    return TrainConfig(**given)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work_dir = args.work_dir.expanduser().resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        handlers=[logging.FileHandler(work_dir / "train.log"), logging.StreamHandler()])
    log = logging.getLogger("alinea.train")
    config = resolve_config(work_dir, args)

    from alinea.models.train import data, guide, tokenize
    from alinea.models.train.evaluate import DEV_REF, DEV_SRC, SEED_REF, SEED_SRC

    prepared = work_dir / "data"
    if not (prepared / "prepare.json").is_file():
        log.info("preparing data from %s", args.corpus_dir)
        stats = data.prepare(args.corpus_dir, prepared, exclude=[DEV_SRC, DEV_REF, SEED_SRC, SEED_REF], heldout=args.heldout, seed=config.seed)
        log.info("data: %s", stats)
    tok_dir = work_dir / tokenize.TOKENIZER_DIR
    if not (tok_dir / "vocab.json").is_file():
        log.info("training SentencePiece models (%d source, %d target pieces)", config.source_vocab, config.target_vocab)
        tokenize.build_tokenizer(prepared, work_dir, config.source_vocab, config.target_vocab)
    for split in ("train", "heldout"):
        if not (prepared / f"{split}.npz").is_file():
            log.info("encoding %s", split)
            tokenize.encode_split(prepared, tok_dir, split, prepared / f"{split}.npz")
    if config.guided_alignment > 0 and not (prepared / guide.LINKS).is_file():
        log.info("aligning the corpus with eflomal for guided alignment")
        guide.build(work_dir)
    config.save(work_dir)

    from alinea.models.train.loop import train

    progress = train(work_dir, config)
    log.info("done: step %d, %.1fM target tokens, best dev chrF %.2f at step %d", progress.step, progress.target_tokens / 1e6,
             progress.best_chrf, progress.best_step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
