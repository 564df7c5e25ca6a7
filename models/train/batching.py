"""Length-bucketed token batches with a resumable position.

Sentences of similar length are batched together so little compute goes to
padding (on two CPU cores every padded token costs real time). A batch is
capped by *padded* tokens, ``sentences × longest side``, so its cost is
roughly constant whatever the sentence lengths. The batch order of an epoch
is a pure function of (seed, epoch), so a resumed run only needs to store
(epoch, batch index) to continue exactly where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from alinea.models.train.guide import Links
from alinea.models.train.tokenize import Encoded


def make_batches(src_lengths: np.ndarray, tgt_lengths: np.ndarray, max_tokens: int, max_length: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Sentence indices grouped into batches of at most max_tokens padded tokens, in shuffled order.

    Pairs with a side longer than max_length tokens are left out. Ties in
    length are broken randomly per epoch so batches differ between epochs.
    """
    rng = np.random.default_rng([seed, epoch])
    usable = np.flatnonzero((src_lengths <= max_length) & (tgt_lengths <= max_length))
    noise = rng.random(len(usable))
    order = usable[np.lexsort((noise, src_lengths[usable], tgt_lengths[usable]))]
    longest = np.maximum(src_lengths[order], tgt_lengths[order])
    batches: list[np.ndarray] = []
    start, widest = 0, 0
    for i, length in enumerate(longest):
        widest_if_added = max(widest, int(length))
        if i > start and (i - start + 1) * widest_if_added > max_tokens:
            batches.append(order[start:i])
            start, widest_if_added = i, int(length)
        widest = widest_if_added
    if start < len(order):
        batches.append(order[start:])
    rng.shuffle(batches)
    return batches


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    decoder_input_ids: torch.Tensor
    labels: torch.Tensor  # -100 where padded
    target_tokens: int  # non-padding target tokens, </s> included
    # alignment[b, p, i]: share of the links of the target piece read at decoder position p (piece
    # p - 1) that go to source piece i (rows sum to 1, or to 0 for pieces with no link); None when
    # training without guided alignment.
    alignment: torch.Tensor | None = None


def _pad(rows: list[np.ndarray], value: int) -> torch.Tensor:
    out = np.full((len(rows), max(len(r) for r in rows)), value, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return torch.from_numpy(out)


def _alignment(links: Links, indices: np.ndarray, shape: tuple[int, int, int]) -> torch.Tensor:
    """Each pair's links as rows of target → source distributions.

    Decoder position p reads target piece p - 1 (its input is the target
    shifted right) and predicts piece p. The links of piece j go on row
    j + 1, the step that reads it: there the decoder has the piece in hand,
    so aligning it is a lookup, where the step that predicts it would have
    to anticipate it (Chen et al. 2020, "Shift-Att"). Row 0 reads the start
    token and has no link.
    """
    out = np.zeros(shape, dtype=np.float32)
    for b, i in enumerate(indices):
        pairs = links.of(i).astype(np.int64)
        out[b, pairs[:, 1] + 1, pairs[:, 0]] = 1.0
    totals = out.sum(axis=2, keepdims=True)
    np.divide(out, totals, out=out, where=totals > 0)
    return torch.from_numpy(out)


def collate(src: Encoded, tgt: Encoded, indices: np.ndarray, pad_id: int, links: Links | None = None) -> Batch:
    """Padded tensors for one batch; the decoder input is the target shifted right behind <pad> (Marian's start token)."""
    sources = [src.sentence(i) for i in indices]
    targets = [tgt.sentence(i) for i in indices]
    input_ids = _pad(sources, pad_id)
    labels = _pad(targets, -100)
    decoder_input_ids = _pad([np.concatenate(([pad_id], t[:-1])) for t in targets], pad_id)
    alignment = None if links is None else _alignment(links, indices, (len(indices), labels.shape[1], input_ids.shape[1]))
    return Batch(input_ids, input_ids.ne(pad_id).long(), decoder_input_ids, labels, int(sum(len(t) for t in targets)), alignment)


@dataclass
class Position:
    """Where the data stream stands: the epoch and the next batch index in it."""

    epoch: int = 0
    batch: int = 0


class BatchStream:
    """Endless batches over the corpus, epoch after epoch, from a resumable Position."""

    def __init__(self, src: Encoded, tgt: Encoded, *, max_tokens: int, max_length: int, pad_id: int, seed: int,
                 position: Position | None = None, links: Links | None = None):
        self.src, self.tgt, self.links = src, tgt, links
        self.src_lengths, self.tgt_lengths = src.lengths(), tgt.lengths()
        self.max_tokens, self.max_length, self.pad_id, self.seed = max_tokens, max_length, pad_id, seed
        self.position = position or Position()
        self._epoch_batches: list[np.ndarray] | None = None
        self._epoch_of_batches = -1

    def batches_in_epoch(self) -> int:
        return len(self._batches())

    def _batches(self) -> list[np.ndarray]:
        if self._epoch_of_batches != self.position.epoch:
            self._epoch_batches = make_batches(self.src_lengths, self.tgt_lengths, self.max_tokens, self.max_length, self.seed, self.position.epoch)
            self._epoch_of_batches = self.position.epoch
        return self._epoch_batches

    def __iter__(self) -> Iterator[Batch]:
        while True:
            batches = self._batches()
            if self.position.batch >= len(batches):
                self.position = Position(self.position.epoch + 1, 0)
                continue
            indices = batches[self.position.batch]
            self.position = Position(self.position.epoch, self.position.batch + 1)
            yield collate(self.src, self.tgt, indices, self.pad_id, self.links)
