"""One queue of sentences for all calls, translated in shared CTranslate2 batches.

CTranslate2 is most efficient on full batches, and calls arrive one at a
time: the batcher merges the sentences of concurrent calls into batches of
at most `max_batch_tokens` source tokens, waiting at most `max_wait`
seconds for company once a sentence is queued. Each sentence's result goes
back to its own call through a future, so calls see their sentences in their
own order whatever they were batched with.

The queue is bounded (`max_queued` sentences, all calls together): a call
that would overflow it is refused at once with QueueFull rather than letting
memory climb. A call that is cancelled or runs out of time cancels its
Ticket, and its sentences still waiting are dropped, so it stops consuming
translation capacity.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

from alinea.server import metrics
from alinea.server.translate import Translator

log = logging.getLogger(__name__)


# Jobs with other options passed over while filling one batch, at most.
MAX_SKIPPED = 1024


class QueueFull(Exception):
    """The queue cannot take a call's sentences now; retry later."""


class Cancelled(Exception):
    """The call that queued this sentence gave up on it."""


@dataclass
class Ticket:
    """A claim on the queue; cancel() drops its sentences not yet translated.

    A document's ticket may hang from its call's ticket (`parent`), so that
    ending the call drops every document of it with one callback.
    """

    parent: Ticket | None = None
    _cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set() or (self.parent is not None and self.parent.cancelled)


@dataclass
class _Job:
    tokens: list[str]
    beam_size: int
    attention: bool
    ticket: Ticket
    future: Future = field(default_factory=Future)
    queued_at: float = field(default_factory=time.monotonic)

    @property
    def options(self) -> tuple[int, bool]:
        return self.beam_size, self.attention


class Batcher:
    def __init__(self, translator: Translator, *, max_batch_tokens: int = 2048, max_wait: float = 0.002,
                 max_queued: int = 20_000, workers: int = 1, name: str = "model"):
        self._translator = translator
        self.max_batch_tokens = max_batch_tokens
        self.max_wait = max_wait
        self.max_queued = max_queued
        self._queue: deque[_Job] = deque()
        self._queued_tokens = 0
        self._ready = threading.Condition()
        self._closed = False
        self._name = name
        metrics.watch_queue(name, lambda: len(self._queue))
        self._workers = [
            threading.Thread(target=self._work, name=f"alinea-batcher-{name}-{i}", daemon=True) for i in range(workers)
        ]
        for worker in self._workers:
            worker.start()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def submit(self, batch: list[list[str]], *, beam_size: int, attention: bool, ticket: Ticket) -> list[Future]:
        """Queue tokenized sentences (each ending with </s>); one future of Hypothesis each."""
        jobs = [_Job(tokens, beam_size, attention, ticket) for tokens in batch]
        with self._ready:
            if self._closed:
                raise QueueFull("the server is shutting down")
            if len(self._queue) + len(jobs) > self.max_queued:
                raise QueueFull(
                    f"{len(self._queue)} sentences are waiting and this call adds {len(jobs)}; "
                    f"the queue holds {self.max_queued}"
                )
            self._queue.extend(jobs)
            self._queued_tokens += sum(len(job.tokens) for job in jobs)
            self._ready.notify()
        return [job.future for job in jobs]

    def close(self) -> None:
        """Stop the workers once the queue is empty."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        for worker in self._workers:
            worker.join()

    def _next_batch(self) -> list[_Job] | None:
        """Wait for work; take a batch of jobs sharing options, oldest first."""
        with self._ready:
            while True:
                while not self._queue:
                    if self._closed:
                        return None
                    self._ready.wait()
                # Give concurrent calls a moment to join the batch.
                deadline = self._queue[0].queued_at + self.max_wait
                while self._queued_tokens < self.max_batch_tokens and (remaining := deadline - time.monotonic()) > 0:
                    self._ready.wait(remaining)
                if self._queue:
                    break
                # Another worker took the queue while this one waited: wait for new work.
            options = self._queue[0].options
            batch: list[_Job] = []
            skipped: list[_Job] = []  # other options: they wait for a batch of their own
            tokens = 0
            while self._queue and tokens < self.max_batch_tokens and len(skipped) < MAX_SKIPPED:
                job = self._queue.popleft()
                self._queued_tokens -= len(job.tokens)
                if job.ticket.cancelled:
                    job.future.set_exception(Cancelled())
                elif job.options != options:
                    skipped.append(job)
                elif batch and tokens + len(job.tokens) > self.max_batch_tokens:
                    skipped.append(job)
                    break  # full: the rest keeps its place in line
                else:
                    batch.append(job)
                    tokens += len(job.tokens)
            self._queue.extendleft(reversed(skipped))
            self._queued_tokens += sum(len(job.tokens) for job in skipped)
            if self._queue:
                self._ready.notify()  # another worker may start on the rest
            return batch

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            if not batch:
                continue
            beam_size, attention = batch[0].options
            try:
                # Each sentence goes back to its call as soon as it is translated, not with the whole batch.
                for i, hypothesis in self._translator.translate_each(
                    [job.tokens for job in batch], beam_size=beam_size, attention=attention
                ):
                    batch[i].future.set_result(hypothesis)
            except Exception as exc:  # noqa: BLE001 - every waiting call must hear of it
                log.exception("translation of a batch of %d sentences failed", len(batch))
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            metrics.observe_batch(self._name, len(batch))
