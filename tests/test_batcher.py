"""The cross-request batcher, on the tiny model's real CTranslate2 translator."""

from __future__ import annotations

import threading
import time

import pytest

from alinea.server.batcher import Batcher, Cancelled, QueueFull, Ticket
from alinea.server.pipeline import Pipeline
from alinea.server.records import TranslationOptions


class Recording:
    """The real translator, recording batch sizes; `gate` can hold batches back."""

    def __init__(self, translator):
        self.translator = translator
        self.batches: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()

    def translate_each(self, batch, **kwargs):
        self.started.set()
        self.gate.wait(30)
        self.batches.append(len(batch))
        return self.translator.translate_each(batch, **kwargs)


def tokens(tiny_model, text):
    return [*tiny_model.tokenizer.encode(text).tokens, "</s>"]


def test_concurrent_calls_share_a_batch(tiny_model):
    recording = Recording(tiny_model.translator)
    batcher = Batcher(recording, max_wait=0.5)
    sentences = [tokens(tiny_model, t) for t in ("Bonjour.", "Merci.", "Au revoir.")]
    results = {}

    def call(i):
        (future,) = batcher.submit([sentences[i]], beam_size=1, attention=False, ticket=Ticket())
        results[i] = future.result(30)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert recording.batches == [3]
    alone = tiny_model.translator.translate(sentences, beam_size=1, attention=False)
    assert [results[i].tokens for i in range(3)] == [h.tokens for h in alone]
    batcher.close()


def test_batches_respect_the_token_budget_and_options(tiny_model):
    recording = Recording(tiny_model.translator)
    recording.gate.clear()
    batcher = Batcher(recording, max_batch_tokens=12, max_wait=0)
    blocker = batcher.submit([tokens(tiny_model, "Attendez.")], beam_size=1, attention=False, ticket=Ticket())
    assert recording.started.wait(10)
    sentence = tokens(tiny_model, "Bonjour le monde.")  # several tokens
    greedy = batcher.submit([sentence] * 4, beam_size=1, attention=False, ticket=Ticket())
    beam = batcher.submit([sentence], beam_size=2, attention=False, ticket=Ticket())
    recording.gate.set()
    for future in blocker + greedy + beam:
        future.result(30)
    per_batch = max(1, 12 // len(sentence))
    assert recording.batches[0] == 1
    assert all(size <= per_batch for size in recording.batches[1:])
    assert sum(recording.batches) == 6
    batcher.close()


def test_full_queue_refuses_at_once(tiny_model):
    recording = Recording(tiny_model.translator)
    recording.gate.clear()
    batcher = Batcher(recording, max_queued=3, max_wait=0)
    first = batcher.submit([tokens(tiny_model, "Un.")], beam_size=1, attention=False, ticket=Ticket())
    assert recording.started.wait(10)  # the worker holds it; the queue is empty again
    batcher.submit([tokens(tiny_model, "Deux.")] * 3, beam_size=1, attention=False, ticket=Ticket())
    with pytest.raises(QueueFull, match="the queue holds 3"):
        batcher.submit([tokens(tiny_model, "Trois.")], beam_size=1, attention=False, ticket=Ticket())
    recording.gate.set()
    first[0].result(30)
    batcher.close()


def test_cancelled_sentences_are_dropped(tiny_model):
    recording = Recording(tiny_model.translator)
    recording.gate.clear()
    batcher = Batcher(recording, max_wait=0)
    batcher.submit([tokens(tiny_model, "Un.")], beam_size=1, attention=False, ticket=Ticket())
    assert recording.started.wait(10)
    ticket = Ticket()
    dropped = batcher.submit([tokens(tiny_model, "Deux.")] * 5, beam_size=1, attention=False, ticket=ticket)
    kept = batcher.submit([tokens(tiny_model, "Trois.")], beam_size=1, attention=False, ticket=Ticket())
    ticket.cancel()
    recording.gate.set()
    kept[0].result(30)
    for future in dropped:
        with pytest.raises(Cancelled):
            future.result(30)
    assert recording.batches == [1, 1]  # the five cancelled sentences never reached the model
    batcher.close()


def test_pipeline_deadline(tiny_model):
    recording = Recording(tiny_model.translator)
    recording.gate.clear()
    pipeline = Pipeline(tiny_model, Batcher(recording, max_wait=0))
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="within 0.2s"):
        pipeline.translate("Bonjour.", TranslationOptions(beam_size=1), timeout=0.2)
    assert time.monotonic() - started < 5
    recording.gate.set()
    pipeline.batcher.close()


def test_abandoned_stream_cancels_its_ticket(tiny_model):
    pipeline = Pipeline(tiny_model)
    ticket = Ticket()
    stream = pipeline.iter_segments("Un. Deux. Trois.", TranslationOptions(beam_size=1), ticket)
    next(stream)
    stream.close()
    assert ticket.cancelled


def test_a_call_ticket_cancels_its_documents():
    call = Ticket()
    first, second = Ticket(parent=call), Ticket(parent=call)
    first.cancel()
    assert first.cancelled and not second.cancelled and not call.cancelled
    call.cancel()
    assert second.cancelled


def test_workers_waiting_together_survive_an_emptied_queue(tiny_model):
    # Both workers wait out the same max_wait for the first sentence; the first to wake takes the
    # whole queue, and the second must go back to waiting rather than fail on an empty queue.
    batcher = Batcher(tiny_model.translator, max_wait=0.2, workers=2)
    first = batcher.submit([tokens(tiny_model, "Un.")], beam_size=1, attention=False, ticket=Ticket())
    time.sleep(0.02)  # the first worker is waiting for company
    second = batcher.submit([tokens(tiny_model, "Deux.")], beam_size=1, attention=False, ticket=Ticket())
    for future in first + second:
        future.result(30)
    time.sleep(0.1)
    assert all(worker.is_alive() for worker in batcher._workers)
    later = batcher.submit([tokens(tiny_model, "Trois.")] * 4, beam_size=1, attention=False, ticket=Ticket())
    assert all(future.result(30).tokens for future in later)
    batcher.close()


class Reversed:
    """The real translator, handing its sentences back last first; `fail_after` raises after that many."""

    def __init__(self, translator, fail_after: int | None = None):
        self.translator, self.fail_after = translator, fail_after
        self.handed: list[int] = []

    def translate_each(self, batch, **kwargs):
        results = sorted(self.translator.translate_each(batch, **kwargs), reverse=True)
        for n, (i, hypothesis) in enumerate(results):
            if n == self.fail_after:
                raise RuntimeError("the model failed")
            self.handed.append(i)
            yield i, hypothesis


def test_translate_each_hands_back_every_sentence_once(tiny_model):
    sentences = [tokens(tiny_model, t) for t in ("Bonjour.", "Merci beaucoup.", "Au revoir, à demain.")]
    each = dict(tiny_model.translator.translate_each(sentences, beam_size=1, attention=True))
    together = tiny_model.translator.translate(sentences, beam_size=1, attention=True)
    assert sorted(each) == [0, 1, 2]
    assert [each[i] for i in range(3)] == together


def test_segments_come_in_order_whatever_order_translations_arrive_in(tiny_model):
    text = "Bonjour. Merci beaucoup. Bonjour. Au revoir, à demain. 2024."
    options = TranslationOptions(beam_size=1)
    expected = Pipeline(tiny_model).translate(text, options)
    translator = Reversed(tiny_model.translator)
    got = Pipeline(tiny_model, Batcher(translator, max_wait=0)).translate(text, options)
    assert translator.handed == [2, 1, 0]  # three distinct sentences, "Bonjour." once, "2024." copied
    assert got == expected
    assert [s.index for s in got.segments] == list(range(5))


def test_a_failing_batch_fails_the_sentences_not_yet_handed_back(tiny_model):
    batcher = Batcher(Reversed(tiny_model.translator, fail_after=1), max_wait=0)
    futures = batcher.submit([tokens(tiny_model, t) for t in ("Un.", "Deux.")], beam_size=1, attention=False,
                             ticket=Ticket())
    assert futures[1].result(30).tokens  # handed back before the failure
    with pytest.raises(RuntimeError, match="the model failed"):
        futures[0].result(30)
    batcher.close()
