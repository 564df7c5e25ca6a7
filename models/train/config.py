"""Training configuration, stored as work_dir/config.json so a resumed run trains the same model."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

CONFIG = "config.json"

# Settings that only steer this invocation (how long, how often to evaluate).
RUN_SETTINGS = ("hours", "eval_minutes", "checkpoint_minutes", "threads", "log_every")
# What a resumed run may change: the run settings, and guided alignment, which only adds a loss on
# one attention head and so can be switched on for a model already trained without it. Everything
# else defines the model and the optimisation and is fixed once training has started.
RESUME_MAY_CHANGE = (*RUN_SETTINGS, "guided_alignment", "exponential_smoothing")


@dataclass
class TrainConfig:
    # Model. A deep encoder and shallow decoder: encoder layers run once per sentence at
    # inference, decoder layers once per output token, so depth is cheapest in the encoder.
    d_model: int = 256
    encoder_layers: int = 6
    decoder_layers: int = 2
    heads: int = 4
    ffn_dim: int = 1024
    dropout: float = 0.1
    source_vocab: int = 8000
    target_vocab: int = 8000
    # Optimisation: Adam, linear warm-up then inverse-square-root decay.
    lr: float = 7e-4
    warmup_steps: int = 1000
    batch_tokens: int = 2048  # padded tokens per batch: sentences × longest side
    max_length: int = 128  # pairs with a longer side (in pieces) are skipped
    label_smoothing: float = 0.1
    clip_norm: float = 1.0
    # Weight of the guided-alignment loss (Marian's --guided-alignment-weight, whose default is
    # 0.1): cross-entropy between the alignment head's attention and eflomal's links (guide.py).
    # 0 trains without it.
    guided_alignment: float = 0.0
    # Rate of the exponential moving average of the weights that evaluation, best.pt and export
    # use (Marian's --exponential-smoothing; smoothing.py): each step moves the average this
    # fraction of the way to the current weights. 0 evaluates the raw weights.
    exponential_smoothing: float = 0.0
    bf16: bool = False  # bfloat16 autocast for matrix products; a new run turns it on where the CPU has BF16 instructions
    seed: int = 1
    # Evaluation: a fixed sample of the dev set, translated by the int8 CTranslate2 export.
    dev_sample: int = 300
    eval_beam: int = 4
    # Run settings.
    hours: float = 72.0  # stop after this much training wall time, summed over resumes
    eval_minutes: float = 10.0
    checkpoint_minutes: float = 10.0
    threads: int = 2
    log_every: int = 50

    def save(self, work_dir: Path) -> None:
        (work_dir / CONFIG).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, work_dir: Path) -> "TrainConfig":
        data = json.loads((work_dir / CONFIG).read_text(encoding="utf-8"))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate for optimizer step `step` (1-based): linear warm-up, then peak × sqrt(warmup / step)."""
    step = max(step, 1)
    return config.lr * min(step / config.warmup_steps, (config.warmup_steps / step) ** 0.5)


def cpu_has_bf16() -> bool:
    """Whether the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); elsewhere autocast would be slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
