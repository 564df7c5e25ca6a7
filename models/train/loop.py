"""The training loop: token batches, label-smoothed loss, Adam with warm-up, checkpoints, evaluation.

Everything a resumed run needs is in ``checkpoints/last.pt``: weights,
optimizer moments, step, tokens seen, elapsed time, data position and the
RNG states. Every ``eval_minutes`` the current weights are converted to an
int8 CTranslate2 model and a fixed sample of the dev set is translated and
scored; the result is appended to ``curve.jsonl`` and, when the dev chrF is
the best so far, the weights are kept as ``checkpoints/best.pt``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import random
import shutil
import signal
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from alinea.models.convert import convert
from alinea.models.train.batching import BatchStream, Position, collate
from alinea.models.train.config import TrainConfig, lr_at
from alinea.models.train.evaluate import DEV_REF, DEV_SRC, Translator, hansards_aer, read_lines, score
from alinea.models.train.guide import LINKS, Links
from alinea.models.train.model import (BEST, CHECKPOINTS, LAST, atomic_save, build_model, count_parameters, load_checkpoint,
                                       quiet_libraries, save_hf, vocab_size, zero_pad_embedding)
from alinea.models.train.smoothing import Smoothed
from alinea.models.train.tokenize import load_split

log = logging.getLogger("alinea.train")
CURVE = "curve.jsonl"


@dataclass
class Progress:
    """Counters that survive a resume."""

    step: int = 0
    target_tokens: int = 0
    elapsed: float = 0.0  # wall seconds spent in this work dir's training, evaluations included
    position: Position = field(default_factory=Position)
    best_chrf: float = -1.0
    best_bleu: float = -1.0
    best_step: int = 0
    # [first step, weight] each time the guided-alignment weight changed (a resume may change it).
    guided_alignment: list[list[float]] = field(default_factory=list)
    # [first step, rate] each time the exponential smoothing rate changed.
    exponential_smoothing: list[list[float]] = field(default_factory=list)


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


class StopRequested:
    """SIGTERM/SIGINT set a flag; the loop saves a checkpoint at the next step boundary and exits."""

    def __init__(self) -> None:
        self.requested = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        log.info("signal %d: saving a checkpoint and stopping", signum)
        self.requested = True


def evaluate_weights(model, work_dir: Path, config: TrainConfig) -> dict[str, float]:
    """Convert the current weights to int8 CTranslate2 and score the dev sample."""
    eval_dir = work_dir / "eval"
    shutil.rmtree(eval_dir, ignore_errors=True)
    save_hf(model, work_dir, eval_dir / "hf")
    convert(eval_dir / "hf", eval_dir / "ct2", source_language="fr", target_language="en", quantization="int8", force=True)
    translator = Translator(eval_dir / "ct2", threads=config.threads)
    sources, references = read_lines(DEV_SRC, config.dev_sample), read_lines(DEV_REF, config.dev_sample)
    hypotheses = translator.translate(sources, beam_size=config.eval_beam)
    (eval_dir / "dev.hyp.en").write_text("\n".join(hypotheses) + "\n", encoding="utf-8")
    # The curve follows the alignment head itself: each target piece's most attended source piece.
    return {**score(hypotheses, references), "aer": hansards_aer(eval_dir / "ct2", config.threads)["argmax"]}


def alignment_loss(attention: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy of the alignment head's attention against the links, and the rows it covers.

    attention and target are (batch, target pieces, source pieces); target rows
    without a link are all zero and add nothing.
    """
    loss = -(target * torch.log(attention.float() + 1e-6)).sum()
    return loss, int(target.sum().round().item())


@torch.no_grad()
def source_dependence(model, src, tgt, pad_id: int, pairs: int = 64) -> dict[str, float]:
    """Held-out loss with the right sources and with sources shuffled between sentences.

    A healthy model does much worse on shuffled sources. When both losses are
    equal the encoder has collapsed (every sentence encodes to the same vector)
    and the decoder is only a language model: lower the learning rate.
    """
    batch = collate(src, tgt, np.arange(min(pairs, len(src))), pad_id)
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    losses = []
    for shift in (0, 1):
        logits = model(input_ids=batch.input_ids.roll(shift, 0), attention_mask=batch.attention_mask.roll(shift, 0),
                       decoder_input_ids=batch.decoder_input_ids).logits
        losses.append(loss_fn(logits.float().view(-1, logits.size(-1)), batch.labels.view(-1)).item() / batch.target_tokens)
    return {"heldout_loss": round(losses[0], 4), "shuffled_source_loss": round(losses[1], 4)}


def train(work_dir: Path, config: TrainConfig) -> Progress:
    """Train until config.hours of elapsed time, a signal, or forever-ish; resumes from last.pt if present."""
    lock = open(work_dir / ".lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"{work_dir} is already being trained by another process") from None
    torch.set_num_threads(config.threads)
    quiet_libraries()
    ckpt_dir = work_dir / CHECKPOINTS
    vocab = vocab_size(work_dir)
    torch.manual_seed(config.seed)
    model = build_model(config, vocab)
    pad_id = model.config.pad_token_id
    guided = config.guided_alignment > 0
    if guided:  # SDPA does not return attention weights
        model.set_attn_implementation("eager")
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.98), eps=1e-9)
    progress = Progress()
    state = load_checkpoint(ckpt_dir / LAST) if (ckpt_dir / LAST).is_file() else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        progress = Progress(**{**state["progress"], "position": Position(**state["progress"]["position"])})
        set_rng_state(state["rng"])
        log.info("resumed from step %d (%.1fM target tokens, %.0f min)", progress.step, progress.target_tokens / 1e6, progress.elapsed / 60)
    log.info("model: %d parameters, vocabulary %d, config %s", count_parameters(model), vocab, json.dumps(asdict(config)))

    src, tgt = load_split(work_dir / "data" / "train.npz")
    heldout_src, heldout_tgt = load_split(work_dir / "data" / "heldout.npz")
    links = Links(work_dir / "data" / LINKS) if guided else None
    if links is not None and len(links) != len(src):
        raise SystemExit(f"{work_dir / 'data' / LINKS} has {len(links)} pairs but the corpus {len(src)}; "
                         "delete it and run again to realign")
    stream = BatchStream(src, tgt, max_tokens=config.batch_tokens, max_length=config.max_length, pad_id=pad_id,
                         seed=config.seed, position=progress.position, links=links)
    if config.guided_alignment != (progress.guided_alignment[-1][1] if progress.guided_alignment else 0.0):
        progress.guided_alignment.append([progress.step + 1, config.guided_alignment])
    smoothed = None
    if config.exponential_smoothing > 0:
        # A rate switched on for a run under way starts the average at the current weights.
        smoothed = Smoothed(model, config.exponential_smoothing, state.get("smoothed") if state else None)
    if config.exponential_smoothing != (progress.exponential_smoothing[-1][1] if progress.exponential_smoothing else 0.0):
        progress.exponential_smoothing.append([progress.step + 1, config.exponential_smoothing])
    del state  # the optimizer and model hold their copies
    log.info("data: %d pairs, %d batches per epoch, starting at epoch %d batch %d", len(src), stream.batches_in_epoch(),
             progress.position.epoch, progress.position.batch)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing, ignore_index=-100, reduction="sum")
    stop = StopRequested()

    def save_last() -> None:
        progress.position = stream.position
        extra = {"smoothed": smoothed.state_dict()} if smoothed else {}
        atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "progress": asdict(progress),
                     "rng": rng_state(), "config": asdict(config), **extra}, ckpt_dir / LAST)

    session_start = time.monotonic()
    elapsed_at_start = progress.elapsed
    last_eval = last_ckpt = last_log = time.monotonic()
    window_loss = window_tokens = 0.0  # since the last evaluation
    log_loss = log_tokens = 0.0  # since the last log line
    log_align = log_rows = 0.0  # guided-alignment loss since the last log line
    model.train()
    for batch in stream:
        progress.step += 1
        lr = lr_at(progress.step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
            output = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                           decoder_input_ids=batch.decoder_input_ids, output_attentions=guided)
        logits = output.logits
        loss_sum = loss_fn(logits.float().view(-1, logits.size(-1)), batch.labels.view(-1))
        objective = loss_sum / batch.target_tokens
        if guided:
            # The head CTranslate2 returns: the last decoder layer's first head.
            align_sum, rows = alignment_loss(output.cross_attentions[-1][:, 0], batch.alignment)
            if rows:
                objective = objective + config.guided_alignment * align_sum / rows
            log_align += align_sum.item()
            log_rows += rows
        objective.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        zero_pad_embedding(model)
        if smoothed:
            smoothed.update()
        progress.target_tokens += batch.target_tokens
        loss_value = loss_sum.item()
        if not math.isfinite(loss_value):
            raise SystemExit(f"step {progress.step}: loss is {loss_value}; lower --lr or raise --warmup-steps and resume from the last checkpoint")
        window_loss += loss_value
        window_tokens += batch.target_tokens
        log_loss += loss_value
        log_tokens += batch.target_tokens
        now = time.monotonic()
        progress.elapsed = elapsed_at_start + (now - session_start)
        if progress.step % config.log_every == 0:
            log.info("step %d  epoch %d  lr %.2e  loss %.3f%s  %.0f tgt tok/s  %.2fM tokens  %.1f min",
                     progress.step, stream.position.epoch, lr, log_loss / log_tokens,
                     f"  alignment loss {log_align / log_rows:.3f}" if log_rows else "", log_tokens / (now - last_log),
                     progress.target_tokens / 1e6, progress.elapsed / 60)
            log_loss = log_tokens = log_align = log_rows = 0.0
            last_log = now
        if stop.requested:  # no evaluation: a stop should be quick
            save_last()
            log.info("stopped at step %d; resume by running the same command", progress.step)
            break
        out_of_time = progress.elapsed >= config.hours * 3600
        if now - last_eval >= config.eval_minutes * 60 or out_of_time:
            # The weights evaluated, and kept as best.pt: the smoothed average when there is one.
            with smoothed.swapped_in() if smoothed else nullcontext():
                model.eval()
                try:
                    metrics = evaluate_weights(model, work_dir, config)
                except Exception:  # a failed evaluation must not end a long run; the checkpoint is still saved
                    log.exception("evaluation failed at step %d", progress.step)
                    metrics = {"bleu": float("nan"), "chrf": float("nan"), "aer": float("nan")}
                health = source_dependence(model, heldout_src, heldout_tgt, pad_id)
                model.train()
                record = {"step": progress.step, "target_tokens": progress.target_tokens, "wall_seconds": round(progress.elapsed),
                          "epoch": round(stream.position.epoch + stream.position.batch / stream.batches_in_epoch(), 3),
                          "lr": lr, "train_loss": round(window_loss / max(window_tokens, 1), 4),
                          **health, "dev_bleu": metrics["bleu"], "dev_chrf": metrics["chrf"], "dev_lines": config.dev_sample,
                          "beam": config.eval_beam, "hansards_aer": metrics["aer"], "aer_rows": "shift", "guided_alignment": progress.guided_alignment,
                          "weights": "smoothed" if smoothed else "raw", "exponential_smoothing": progress.exponential_smoothing}
                with open(work_dir / CURVE, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
                log.info("eval %s", json.dumps(record))
                window_loss = window_tokens = log_loss = log_tokens = log_align = log_rows = 0.0
                if metrics["chrf"] > progress.best_chrf:
                    progress.best_chrf, progress.best_bleu, progress.best_step = metrics["chrf"], metrics["bleu"], progress.step
                    atomic_save({"model": model.state_dict(), "config": asdict(config), "record": record}, ckpt_dir / BEST)
                    log.info("new best: step %d chrF %.2f BLEU %.2f", progress.step, metrics["chrf"], metrics["bleu"])
            now = time.monotonic()
            progress.elapsed = elapsed_at_start + (now - session_start)
            last_eval = last_log = now
            save_last()
            last_ckpt = now
        elif now - last_ckpt >= config.checkpoint_minutes * 60:
            save_last()
            last_ckpt = now
        if out_of_time:
            log.info("stopping at step %d after %.1f h (--hours)", progress.step, progress.elapsed / 3600)
            break
    return progress
