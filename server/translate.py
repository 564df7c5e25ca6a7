"""CTranslate2 behind a small interface: token lists in, hypotheses out."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import ctranslate2


@dataclass(frozen=True)
class Hypothesis:
    tokens: list[str]
    # Mean log-probability per generated token.
    score: float
    # attention[t][s]: weight of source token s at the decoding step that
    # reads target token t, i.e. the step after the one that wrote it (the
    # source's trailing </s> included). Empty when not asked for; one row
    # short when decoding stopped at the length limit without </s>. That
    # step is the one alinea's models are trained to align with
    # (alinea.models.train.guide), and the one attention aligns best with
    # in any model (Chen et al. 2020, "Shift-Att").
    attention: list[list[float]]


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no sched_getaffinity (macOS)
        return os.cpu_count() or 1


@dataclass(frozen=True)
class TranslatorSettings:
    # CTranslate2 runs `inter_threads` batches at once, each on
    # `intra_threads` cores (0: all cores). One batch per core, one thread
    # each: for Marian-sized models threads within a batch cost more in
    # synchronisation than they gain (bench/threads.py; docs/operations.md).
    inter_threads: int = field(default_factory=available_cores)
    intra_threads: int = 1
    compute_type: str = "default"  # keep the type the model was converted to
    # Source tokens per CTranslate2 sub-batch: CTranslate2 sorts a batch's
    # sentences by length and cuts it into sub-batches of this size, which
    # keeps padding low when short and long sentences share a batch, and
    # spreads one batch over the `inter_threads` replicas (a single
    # article's sentences then use every core).
    max_batch_tokens: int = 512
    # Target pieces per sentence at most (Marian models have 512 positions).
    max_decoding_length: int = 512


class Translator:
    def __init__(self, model_dir: Path, settings: TranslatorSettings = TranslatorSettings()):
        self.settings = settings
        self._ct2 = ctranslate2.Translator(
            str(model_dir),
            device="cpu",
            compute_type=settings.compute_type,
            inter_threads=settings.inter_threads,
            intra_threads=settings.intra_threads,
        )

    def translate(self, batch: list[list[str]], *, beam_size: int, attention: bool) -> list[Hypothesis]:
        """Translate tokenized sentences (each ending with </s>) in one CTranslate2 call."""
        if not batch:
            return []
        results = self._ct2.translate_batch(
            batch,
            beam_size=beam_size,
            max_batch_size=self.settings.max_batch_tokens,
            batch_type="tokens",
            return_scores=True,
            return_attention=attention,
            # Sentences are kept short enough upstream that nothing is ever
            # truncated. The decoding limit is fixed, not relative to the
            # batch's longest sentence (the padded arithmetic of a batch can
            # still move a sentence's last bits: docs/operations.md).
            max_input_length=0,
            max_decoding_length=self.settings.max_decoding_length,
            repetition_penalty=1.0,
            # With attention, keep the step that writes </s>: it reads the last target token.
            return_end_token=attention,
        )
        return [_hypothesis(result, attention) for result in results]


def _hypothesis(result, attention: bool) -> Hypothesis:
    tokens = result.hypotheses[0]
    if not attention:
        return Hypothesis(tokens, result.scores[0], [])
    if tokens and tokens[-1] == "</s>":
        tokens = tokens[:-1]
    # Row k is the step that wrote token k; the step reading token t is row t + 1.
    return Hypothesis(tokens, result.scores[0], result.attention[0][1 : len(tokens) + 1])
