"""CTranslate2 behind a small interface: token lists in, hypotheses out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ctranslate2


@dataclass(frozen=True)
class Hypothesis:
    tokens: list[str]
    # Mean log-probability per generated token.
    score: float
    # attention[t][s]: weight of source token s for target token t (the
    # source's trailing </s> included); empty when not asked for.
    attention: list[list[float]]


@dataclass(frozen=True)
class TranslatorSettings:
    # CTranslate2 runs `inter_threads` batches at once, each on
    # `intra_threads` cores (0: all cores).
    inter_threads: int = 1
    intra_threads: int = 0
    compute_type: str = "default"  # keep the type the model was converted to
    # Source tokens per CTranslate2 sub-batch: CTranslate2 sorts a batch's
    # sentences by length and cuts it into sub-batches of this size, which
    # keeps padding low when short and long sentences share a batch.
    max_batch_tokens: int = 1024
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
            # batch's longest sentence, so a sentence translates the same
            # whatever it is batched with.
            max_input_length=0,
            max_decoding_length=self.settings.max_decoding_length,
            repetition_penalty=1.0,
        )
        return [
            Hypothesis(
                tokens=result.hypotheses[0],
                score=result.scores[0],
                attention=result.attention[0] if attention else [],
            )
            for result in results
        ]
