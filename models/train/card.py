"""MODEL_CARD.md for an exported model, written from the run's own records.

Every figure comes from a file of the work dir (config.json, prepare.json,
curve.jsonl) or from the evaluation just run on the converted model, so the
card cannot drift from the model it describes.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from pathlib import Path

from alinea.models.train.config import RUN_SETTINGS, TrainConfig
from alinea.models.train.evaluate import Report

REPO = Path(__file__).resolve().parents[2]


def _display(path: Path) -> str:
    """A path as a reader would type it: relative to the repo, or with ~ for the home folder."""
    path = Path(path).resolve()
    if path.is_relative_to(REPO):
        return str(path.relative_to(REPO))
    home = Path.home()
    return "~/" + str(path.relative_to(home)) if path.is_relative_to(home) else str(path)


def training_command(work_dir: Path, config: TrainConfig) -> str:
    """The command that trains this model: the work dir plus every setting that differs from the defaults."""
    defaults = TrainConfig()
    flags = []
    for f in fields(TrainConfig):
        value = getattr(config, f.name)
        if f.name in RUN_SETTINGS or value == getattr(defaults, f.name):
            continue
        flag = "--" + f.name.replace("_", "-")
        flags.append(flag if value is True else f"--no-{flag[2:]}" if value is False else f"{flag} {value}")
    return " ".join(["python -m alinea.models.train --work-dir", _display(work_dir), *flags])


def cpu_description() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return f"{os.cpu_count()} CPU cores"


def guided_alignment_lines(work_dir: Path, curve: list[dict]) -> list[str]:
    """What the card says about guided alignment: its weights and from which steps, and the teacher's own AER."""
    history = next((r["guided_alignment"] for r in reversed(curve) if isinstance(r.get("guided_alignment"), list)), [])
    if not history:
        return []
    teacher_file = work_dir / "data" / "teacher-aer.json"
    teacher = json.loads(teacher_file.read_text(encoding="utf-8"))["test"]["aer"] if teacher_file.is_file() else None
    weights = ", then ".join(f"weight {weight:g} from step {int(step):,}" for step, weight in history)
    return [
        f"Guided alignment (`alinea.models.train.guide`), {weights}"
        + ": the last decoder layer's first attention head (the one CTranslate2 returns) is trained towards",
        "eflomal's links between the training pairs' SentencePiece pieces (grow-diag-final-and), so the",
        "attention the server turns into word alignments is an aligner's."
        + (f" The teacher itself scores AER {teacher:.3f} on the Hansards test set." if teacher is not None else ""),
        "",
    ]


def smoothing_lines(curve: list[dict]) -> list[str]:
    """What the card says about exponential smoothing: its rates and from which steps."""
    history = next((r["exponential_smoothing"] for r in reversed(curve) if r.get("exponential_smoothing")), [])
    if not history:
        return []
    rates = ", then ".join(f"rate {rate:g} from step {int(step):,}" for step, rate in history)
    return [
        f"Exponential smoothing (`alinea.models.train.smoothing`), {rates}: evaluations, the best checkpoint and",
        "this export use a moving average of the weights, which each step moves that fraction of the way to the",
        "current weights.",
        "",
    ]


def _predicting_step_note(curve: list[dict]) -> str:
    """Runs from before guidance moved to the reading step measured (and guided) the predicting step: say up to when."""
    predicting = [r["step"] for r in curve if r.get("aer_rows") == "step"]
    if not predicting:
        return ""
    return (f" Up to step {max(predicting):,} the head was guided on, and its AER read from, the step that predicts "
            "each piece; after it, the step that reads it (as the server reads it).")


def learning_curve(work_dir: Path) -> list[dict]:
    path = work_dir / "curve.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_model_card(model_dir: Path, *, work_dir: Path, config: TrainConfig, parameters: int, summary: dict, prepared: dict,
                     report: Report | None, output: Path) -> Path:
    """Write model_dir/MODEL_CARD.md."""
    curve = learning_curve(work_dir)
    vocab = len(json.loads((work_dir / "tokenizer" / "vocab.json").read_text(encoding="utf-8")))
    model_mb = sum(p.stat().st_size for p in model_dir.iterdir() if p.is_file()) / 2**20
    hours = summary["wall_seconds"] / 3600
    tokens = summary["target_tokens"]
    out = _display(output)
    lines = [
        "# alinea-fr-en",
        "",
        "A French→English translation model trained from scratch by the alinea project: a small Marian",
        "transformer (the architecture of OPUS-MT), converted to CTranslate2 with int8 weights. It is the",
        "project's embedded default model: small enough to ship in the repository and fast on a CPU, but far",
        "below large published models in quality (for scale, NLLB-200 distilled 600M scores 43.4 BLEU on the",
        "same dev set). It was trained on parliamentary debates and short conversational sentences, so news",
        "and encyclopaedic text (like the dev set) are out of its training domain.",
        "",
        "## Training data",
        "",
        "| corpus | pairs read | domain | licence / terms | attribution |",
        "|---|---:|---|---|---|",
        f"| hansard36 | {prepared['read'].get('hansard36', 0):,} | Canadian parliamentary debates, 36th Parliament (1997–2000) | "
        "ISI *Aligned Hansards of the 36th Parliament of Canada*, released free for research; no explicit licence | "
        "Aligned Hansards of the 36th Parliament of Canada, Natural Language Group, USC Information Sciences Institute (Ulrich Germann, ed.) |",
        f"| tatoeba | {prepared['read'].get('tatoeba', 0):,} | general, short conversational sentences | CC-BY 2.0 FR | "
        "Tatoeba (https://tatoeba.org), via the Anki export of https://www.manythings.org/anki |",
        "",
        "The Hansard French had lost its accents in the copy used and had them restored automatically, so it",
        "contains some accent errors (see shared/data/train/PROVENANCE.md). The Hansard terms are research-only:",
        "check them before any commercial use of these weights.",
        "",
        f"Preparation (`alinea.models.train.data`): Unicode NFC, whitespace normalised, English quotes and",
        f"apostrophes made ASCII; pairs dropped when a side is over {prepared['rules']['max_chars']} characters or the",
        f"length ratio is over {prepared['rules']['max_ratio']} ({prepared['filtered']:,} pairs), when duplicated",
        f"({prepared['duplicates']:,}) or when a side matches a dev-set or seed-article line ({prepared['excluded_eval']:,}).",
        f"{prepared['typographic']:,} French sentences were rewritten with typographic apostrophes and guillemets",
        "(’ « »), so the model reads both ASCII and typographic French without preprocessing.",
        f"{prepared['heldout']:,} pairs are held out; {prepared['train']:,} pairs train the model.",
        "",
        "## Architecture",
        "",
        "| | |",
        "|---|---|",
        f"| model | MarianMTModel (post-norm transformer, sinusoidal positions, tied embeddings) |",
        f"| layers | {config.encoder_layers} encoder, {config.decoder_layers} decoder |",
        f"| width | d_model {config.d_model}, {config.heads} heads, feed-forward {config.ffn_dim} |",
        f"| vocabulary | SentencePiece unigram, {config.source_vocab:,} French + {config.target_vocab:,} English pieces, "
        f"{vocab:,} joint entries |",
        f"| parameters | {parameters:,} ({parameters / 1e6:.1f}M) |",
        f"| served as | CTranslate2 int8, {model_mb:.1f} MB on disk (model.bin + SentencePiece models), with a "
        f"vocabulary map learned from the training pairs (vmap.txt, `alinea.models.vmap`) |",
        "",
        "## Training",
        "",
        f"Adam (β 0.9/0.98), peak learning rate {config.lr:g} after {config.warmup_steps:,} warm-up steps, then",
        f"inverse-square-root decay; batches of at most {config.batch_tokens:,} padded tokens, length-bucketed; label",
        f"smoothing {config.label_smoothing}; dropout {config.dropout}; gradient norm clipped at {config.clip_norm};"
        f" {'bfloat16 autocast' if config.bf16 else 'float32'}.",
        "",
        *guided_alignment_lines(work_dir, curve),
        *smoothing_lines(curve),
        f"This checkpoint: step {summary['step']:,}, {tokens / 1e6:.1f}M target tokens seen "
        + (f"({summary['epoch']:.2f} epochs), " if "epoch" in summary else "")
        + f"{hours:.2f} h of wall time on {cpu_description()} (no GPU), "
        f"{tokens / max(summary['wall_seconds'], 1):,.0f} target tokens/s on average, evaluations included.",
        "",
    ]
    if report:
        lines += [
            "## Evaluation",
            "",
            f"CTranslate2 int8 on {cpu_description()}, beam {report.beam_size}, length penalty {report.length_penalty:g} "
            "(tuned: `python -m alinea.models.train.tune`), sacreBLEU 2 defaults (BLEU 13a, chrF2).",
            "",
            "| test set | BLEU | chrF |",
            "|---|---:|---:|",
            f"| FLORES-200 dev, fra_Latn→eng_Latn, {report.dev_lines} sentences (CC BY-SA 4.0) | {report.dev_bleu:.2f} | {report.dev_chrf:.2f} |",
            f"| seed article *kremlin-pekin* ({report.seed_paragraphs} paragraphs, translated sentence by sentence) | "
            f"{report.seed_bleu:.2f} | {report.seed_chrf:.2f} |",
            "",
            f"- Speed: the seed article translates in {report.seed_seconds:.2f} s once the model is loaded "
            f"(load: {report.load_seconds:.2f} s); the dev set in {report.dev_seconds:.1f} s "
            f"({report.dev_lines / max(report.dev_seconds, 1e-9):.0f} sentences/s), through the server's "
            "translator (two CTranslate2 replicas, one core each).",
            f"- Verbatim copying on the dev set: {report.dev_numbers_copied:.1f}% of {report.dev_numbers_total} source numbers and "
            f"{report.dev_names_copied:.1f}% of {report.dev_names_total} names (capitalised words the reference keeps unchanged) "
            "appear in the output.",
            f"- Word alignment on the WPT-2003 Hansards test set (447 pairs, gold English force-decoded): AER "
            f"{report.hansards_aer:.3f} with the server's method (the links both directions of the word attention agree on), "
            f"{report.hansards_aer_argmax:.3f} linking each target piece to its most attended source piece; "
            "`python -m alinea.server.alignment_eval --model-dir " + out + "` prints every method.",
            "",
        ]
    if curve:
        lines += [
            "## Learning curve",
            "",
            f"Dev BLEU/chrF on the first {curve[-1].get('dev_lines', config.dev_sample)} FLORES-200 dev sentences, "
            f"int8 CTranslate2, beam {curve[-1].get('beam', config.eval_beam)}; train loss is label-smoothed cross-entropy "
            "per target token since the previous evaluation; Hansards AER is that of the alignment head's own argmax "
            "(each target piece to its most attended source piece) on the 447-pair WPT-2003 test set "
            "(— before it was measured); ≈ marks the evaluations of smoothed weights." + _predicting_step_note(curve),
            "",
            "| step | target tokens | wall time | epoch | train loss | dev BLEU | dev chrF | Hansards AER |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in curve:
            mark = (" ≈" if r.get("weights") == "smoothed" else "") + (" ◀ exported" if r["step"] == summary["step"] else "")
            aer = f"{r['hansards_aer']:.3f}" if "hansards_aer" in r else "—"
            lines.append(f"| {r['step']:,} | {r['target_tokens'] / 1e6:.2f}M | {r['wall_seconds'] / 60:.0f} min | {r.get('epoch', 0):.2f} | "
                         f"{r['train_loss']:.3f} | {r['dev_bleu']:.2f} | {r['dev_chrf']:.2f} | {aer}{mark} |")
        lines.append("")
    lines += [
        "## Reproduce",
        "",
        "```sh",
        "# train (resumes from the last checkpoint when re-run; stop it any time)",
        training_command(work_dir, config),
        "# export the best checkpoint so far (safe while training runs); evaluates and rewrites this card",
        f"python -m alinea.models.train.export --work-dir {_display(work_dir)} --output {out}",
        "# the evaluation figures above",
        f"python -m alinea.models.train.evaluate {out} --beam {report.beam_size if report else 4}",
        "```",
        "",
        "The learning curve is the run's `curve.jsonl`; the log is `train.log` in the work dir.",
        "",
    ]
    path = model_dir / "MODEL_CARD.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
