"""Prometheus metrics: calls, latency, queue depth, batch sizes.

Served over HTTP at /metrics when the server runs with --metrics-port;
without it they are still counted (cheaply) but not exposed.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram, start_http_server

CALLS = Counter("alinea_calls", "Calls by method and final status code", ["method", "code"])
CALL_SECONDS = Histogram(
    "alinea_call_seconds", "Call duration", ["method"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
QUEUED_SENTENCES = Gauge("alinea_queued_sentences", "Sentences waiting for translation", ["model"])
BATCH_SENTENCES = Histogram(
    "alinea_batch_sentences", "Sentences per CTranslate2 batch", ["model"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256)
)
TRANSLATED_SENTENCES = Counter("alinea_translated_sentences", "Sentences translated", ["model"])


def observe_call(method: str, code: str, seconds: float) -> None:
    CALLS.labels(method, code).inc()
    CALL_SECONDS.labels(method).observe(seconds)


def observe_batch(model: str, sentences: int) -> None:
    BATCH_SENTENCES.labels(model).observe(sentences)
    TRANSLATED_SENTENCES.labels(model).inc(sentences)


def watch_queue(model: str, depth: Callable[[], int]) -> None:
    QUEUED_SENTENCES.labels(model).set_function(depth)


def serve(host: str, port: int) -> None:
    """Expose /metrics over HTTP on host:port (a daemon thread)."""
    start_http_server(port, addr=host)
