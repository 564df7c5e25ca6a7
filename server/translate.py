"""CTranslate2 behind a small interface: token lists in, hypotheses out."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ctranslate2

# Source lengths are rounded up to a multiple of this before the decoding limit is computed.
LENGTH_BUCKET = 8
# CTranslate2 loads a model directory's vocabulary map from this file.
VMAP = "vmap.txt"


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
    # A sentence of n source pieces (its </s> included) gets at most
    # length_ratio * n + length_margin target pieces, n rounded up to a
    # multiple of LENGTH_BUCKET, as Marian's --max-length-factor and
    # fairseq's max_len_a/max_len_b do. A model that falls into a loop on
    # one sentence otherwise decodes 512 pieces of repetition, the time of
    # an article. Generous: no reference in FLORES-200 dev or in a quarter
    # of the training data (102k pairs) is longer than 2n + 10 pieces.
    length_ratio: float = 2.0
    length_margin: int = 10
    # The model's own (its manifest's length_penalty; registry.load_model sets it).
    length_penalty: float = 1.0
    # Score only each batch's candidate target pieces where the model directory
    # has a vocabulary map (vmap.txt, alinea.models.vmap): the output layer is
    # most of a small model's decoding (bench/threads.py; docs/operations.md).
    vocabulary_map: bool = True

    def decoding_limit(self, source_length: int) -> int:
        """Most target pieces for a sentence of `source_length` pieces; a function of the length alone."""
        bucket = -(-source_length // LENGTH_BUCKET) * LENGTH_BUCKET
        return min(self.max_decoding_length, int(self.length_ratio * bucket) + self.length_margin)

    def by_decoding_limit(self, source_lengths: list[int]) -> dict[int, list[int]]:
        """Positions in a batch of sentences of these lengths, grouped by decoding limit.

        CTranslate2 takes one limit per call, so each group is its own call:
        a sentence's limit then never depends on the sentences that share its
        batch. Lengths are bucketed so that few groups form; CTranslate2 sorts
        by length anyway, so groups of neighbouring lengths cost little
        batching.
        """
        groups: dict[int, list[int]] = {}
        for i, length in enumerate(source_lengths):
            groups.setdefault(self.decoding_limit(length), []).append(i)
        return groups


def uses_vocabulary_map(model_dir: Path, settings: TranslatorSettings) -> bool:
    """Whether translations of `model_dir` under `settings` score only the candidates of its vmap.txt."""
    return settings.vocabulary_map and (Path(model_dir) / VMAP).is_file()


class Translator:
    def __init__(self, model_dir: Path, settings: TranslatorSettings = TranslatorSettings()):
        self.settings = settings
        self.vocabulary_map = uses_vocabulary_map(model_dir, settings)
        self._ct2 = ctranslate2.Translator(
            str(model_dir),
            device="cpu",
            compute_type=settings.compute_type,
            inter_threads=settings.inter_threads,
            intra_threads=settings.intra_threads,
        )

    def translate(self, batch: list[list[str]], *, beam_size: int, attention: bool) -> list[Hypothesis]:
        """Translate tokenized sentences (each ending with </s>); their hypotheses in order."""
        hypotheses: list[Hypothesis | None] = [None] * len(batch)
        for i, hypothesis in self.translate_each(batch, beam_size=beam_size, attention=attention):
            hypotheses[i] = hypothesis
        return hypotheses

    def translate_each(self, batch: list[list[str]], *, beam_size: int,
                       attention: bool) -> Iterator[tuple[int, Hypothesis]]:
        """(position, hypothesis) for each sentence of `batch` as soon as CTranslate2 has finished it.

        One asynchronous CTranslate2 call per decoding limit, all in flight
        together so that every replica stays busy. CTranslate2 finishes a
        batch a sub-batch at a time: handing each sentence on when its
        sub-batch is done lets the caller's work on it (alignment, entities)
        overlap the translation of the rest instead of waiting for the
        slowest sub-batch.
        """
        pending = []
        for limit, positions in self.settings.by_decoding_limit([len(tokens) for tokens in batch]).items():
            results = self._ct2.translate_batch(
                [batch[i] for i in positions],
                beam_size=beam_size,
                max_batch_size=self.settings.max_batch_tokens,
                batch_type="tokens",
                return_scores=True,
                return_attention=attention,
                # Sentences are kept short enough upstream that nothing is ever truncated.
                max_input_length=0,
                max_decoding_length=limit,
                repetition_penalty=1.0,
                length_penalty=self.settings.length_penalty,
                use_vmap=self.vocabulary_map,
                # With attention, keep the step that writes </s>: it reads the last target token.
                return_end_token=attention,
                asynchronous=True,
            )
            pending += zip(positions, results)
        while pending:
            # Wait for the oldest (CTranslate2 runs sub-batches in the order they were queued), then take
            # every other one already finished.
            i, result = pending[0]
            yield i, _hypothesis(result.result(), attention)
            later = []
            for i, result in pending[1:]:
                if result.done():
                    yield i, _hypothesis(result.result(), attention)
                else:
                    later.append((i, result))
            pending = later


def _hypothesis(result, attention: bool) -> Hypothesis:
    tokens = result.hypotheses[0]
    if not attention:
        return Hypothesis(tokens, result.scores[0], [])
    if tokens and tokens[-1] == "</s>":
        tokens = tokens[:-1]
    # Row k is the step that wrote token k; the step reading token t is row t + 1.
    return Hypothesis(tokens, result.scores[0], result.attention[0][1 : len(tokens) + 1])
