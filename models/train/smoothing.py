"""An exponential moving average of the weights (Marian's --exponential-smoothing).

Batches of 2,048 tokens make every step's gradient noisy, and the weights
after any one step carry that noise. The average over the last few
thousand steps does not: each step moves it by `rate` of the way towards
the current weights, so it follows the training over about 1 / rate
steps. Evaluation, the best checkpoint and export use the average; the
optimizer keeps training the raw weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


class Smoothed:
    def __init__(self, model: torch.nn.Module, rate: float, state: dict[str, torch.Tensor] | None = None):
        """`state`: a state dict of the average saved before (model.state_dict()'s keys); None starts
        the average at the current weights."""
        if not 0 < rate < 1:
            raise ValueError(f"exponential smoothing rate must be between 0 and 1, not {rate}")
        self.rate = rate
        self._model = model
        named = list(model.named_parameters())
        self._params = [p for _, p in named]
        source = state or dict(named)
        self._average = [source[name].detach().clone().float() for name, _ in named]

    @torch.no_grad()
    def update(self) -> None:
        """Move the average `rate` of the way towards the current weights; after each optimizer step."""
        torch._foreach_lerp_(self._average, [p.detach().float() for p in self._params], self.rate)

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The model holds the average inside the block and its own weights again after it."""
        with torch.no_grad():
            own = [p.detach().clone() for p in self._params]
            for p, a in zip(self._params, self._average):
                p.copy_(a)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, o in zip(self._params, own):
                    p.copy_(o)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The average as a full model state dict, loadable by build_model(...).load_state_dict."""
        with self.swapped_in():
            return {k: v.detach().clone() for k, v in self._model.state_dict().items()}
