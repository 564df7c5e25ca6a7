"""Export a training checkpoint as a served model: HF Marian dir → int8 CTranslate2 → manifest + model card.

Safe to run while training goes on: it reads ``checkpoints/best.pt`` (or
``last.pt``), which the trainer only ever replaces atomically, and it builds
the new model directory beside the output before swapping it in.

    python -m alinea.models.train.export --work-dir ~/.cache/alinea/train/RUN --output models/alinea-fr-en
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

from alinea.models.convert import convert
from alinea.models.manifest import Manifest
from alinea.models.train.card import write_model_card
from alinea.models.train.config import TrainConfig
from alinea.models.train.evaluate import evaluate
from alinea.models.train.model import (BEST, CHECKPOINTS, LAST, build_model, count_parameters, load_checkpoint,
                                       quiet_libraries, save_hf, vocab_size)
from alinea.models.train.tune import tune
from alinea.models.vmap import write as write_vocabulary_map

MODEL_NAME = "alinea-fr-en"


def checkpoint_summary(state: dict, work_dir: Path) -> dict:
    """Step, tokens and time of a checkpoint, whichever kind it is."""
    if "record" in state:  # best.pt: the evaluation record it was kept for
        return dict(state["record"])
    progress = state["progress"]
    return {"step": progress["step"], "target_tokens": progress["target_tokens"], "wall_seconds": round(progress["elapsed"])}


def export(work_dir: Path, output: Path, *, checkpoint: str = "best", name: str = MODEL_NAME, beam_size: int = 4,
           evaluate_model: bool = True, hf_output: Path | None = None) -> Manifest:
    """Write output/ (model.bin, spm files, vmap.txt, manifest.json, MODEL_CARD.md) from a checkpoint of work_dir.

    With `hf_output`, the Hugging Face directory converted from is kept
    there: the same weights for transformers (bench/throughput.py --hf-model).
    """
    import torch

    torch.set_num_threads(2)
    quiet_libraries()
    path = Path(checkpoint) if checkpoint not in ("best", "last") else work_dir / CHECKPOINTS / (BEST if checkpoint == "best" else LAST)
    state = load_checkpoint(path)
    config = TrainConfig(**state["config"])
    model = build_model(config, vocab_size(work_dir))
    # last.pt of a smoothed run: the average, the weights its evaluations score (best.pt has only those).
    model.load_state_dict(state.get("smoothed") or state["model"])
    model.eval()
    summary = checkpoint_summary(state, work_dir)
    prepared = json.loads((work_dir / "data" / "prepare.json").read_text(encoding="utf-8"))

    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{output.name}-", dir=output.parent) as tmp:
        staging = Path(tmp) / "model"
        hf_dir = save_hf(model, work_dir, hf_output.resolve() if hf_output else Path(tmp) / "hf")
        converted = convert(hf_dir, staging, source_language="fr", target_language="en", name=name, quantization="int8",
                            description=f"French→English Marian transformer trained from scratch by the alinea project "
                                        f"({count_parameters(model) / 1e6:.1f}M parameters, int8) on Hansard and Tatoeba",
                            force=True)
        manifest = replace(converted, provenance={
            **converted.provenance,
            "origin": f"trained by the alinea project: python -m alinea.models.train (checkpoint {path.name})",
            "data": "hansard36 (ISI Aligned Hansards of the 36th Parliament of Canada, research release) and "
                    "tatoeba (Tatoeba via manythings.org/anki, CC-BY 2.0 FR)",
            "training_pairs": str(prepared["train"]),
            "steps": str(summary["step"]),
            "target_tokens": str(summary["target_tokens"]),
            "training_hours": f"{summary['wall_seconds'] / 3600:.2f}",
            "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        manifest.write(staging)
        # Its vocabulary map, from the pairs it was trained on: tuning, evaluation and the server use it.
        data = work_dir / "data"
        write_vocabulary_map(staging, [(data / "train.fr", data / "train.en")])
        report = None
        if evaluate_model:
            chosen, _ = tune(staging, write=True, beam_size=beam_size)
            manifest = replace(manifest, length_penalty=chosen.length_penalty)
            report = evaluate(staging, beam_size=beam_size)
        write_model_card(staging, work_dir=work_dir, config=config, parameters=count_parameters(model), summary=summary,
                         prepared=prepared, report=report, output=output)
        if output.exists():
            old = Path(tmp) / "previous"
            output.rename(old)
        staging.rename(output)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alinea.models.train.export", description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, required=True, help="the training run's work dir")
    parser.add_argument("--output", type=Path, required=True, help="model directory to (re)write, e.g. models/alinea-fr-en")
    parser.add_argument("--checkpoint", default="best", help="'best' (default), 'last', or a checkpoint path")
    parser.add_argument("--name", default=MODEL_NAME, help="model name in the manifest (default %(default)s)")
    parser.add_argument("--beam", type=int, default=4, help="beam size for the model card's evaluation (default 4)")
    parser.add_argument("--no-eval", action="store_true",
                        help="skip tuning the length penalty and the evaluation (the model card then has no scores)")
    parser.add_argument("--hf-output", type=Path, metavar="DIR",
                        help="also keep the Hugging Face directory of the same weights there (for bench/throughput.py "
                             "--hf-model)")
    args = parser.parse_args(argv)
    manifest = export(args.work_dir.expanduser().resolve(), args.output, checkpoint=args.checkpoint, name=args.name,
                      beam_size=args.beam, evaluate_model=not args.no_eval, hf_output=args.hf_output)
    print(json.dumps(asdict(manifest), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
