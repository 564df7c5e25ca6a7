"""The Marian model, its HF export and the checkpoint files.

Checkpoints are written atomically (temporary file, then rename), so a run
killed at any moment leaves the previous checkpoint intact, and the exporter
can read ``best.pt`` while training goes on.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from alinea.models.marian import marian_config
from alinea.models.train.config import TrainConfig
from alinea.models.train.tokenize import TOKENIZER_DIR

CHECKPOINTS = "checkpoints"
LAST = "last.pt"  # model + optimizer + data position + RNG: everything to resume
BEST = "best.pt"  # model weights and metadata of the best evaluation so far


def vocab_size(work_dir: Path) -> int:
    return len(json.loads((work_dir / TOKENIZER_DIR / "vocab.json").read_text(encoding="utf-8")))


def build_model(config: TrainConfig, vocab: int):
    """A freshly initialised MarianMTModel with the configured shape."""
    from transformers import MarianMTModel

    hf_config = marian_config(
        vocab,
        d_model=config.d_model,
        layers=(config.encoder_layers, config.decoder_layers),
        heads=config.heads,
        ffn_dim=config.ffn_dim,
        dropout=config.dropout,
    )
    model = MarianMTModel(hf_config)
    # Transformers initialises embeddings with std 0.02; scaled by sqrt(d_model) that makes a
    # token's vector much smaller than its sinusoidal position vector, so the encoder starts out
    # mostly encoding positions. Fairseq's N(0, d_model^-0.5) gives both the same scale.
    with torch.no_grad():
        torch.nn.init.normal_(model.get_input_embeddings().weight, std=config.d_model**-0.5)
    zero_pad_embedding(model)
    return model


@torch.no_grad()
def zero_pad_embedding(model) -> None:
    """Keep the <pad> embedding at zero.

    Marian's decoder starts from <pad>, and CTranslate2 starts it from a zero
    vector instead. The embedding matrix is tied to the output layer, whose
    gradient would otherwise move the <pad> row away from zero and make the
    converted model decode differently from the trained one.
    """
    model.get_input_embeddings().weight[model.config.pad_token_id].zero_()


def count_parameters(model) -> int:
    """Distinct trainable parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)


def save_hf(model, work_dir: Path, out_dir: Path) -> Path:
    """Write a Hugging Face Marian directory (weights + the run's tokenizer files) for conversion."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    for item in (work_dir / TOKENIZER_DIR).iterdir():
        shutil.copyfile(item, out_dir / item.name)
    return out_dir


def quiet_libraries() -> None:
    """No progress bars or tokenizer advice in logs and command output, which are read by people."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")
