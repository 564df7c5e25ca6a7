"""The server under load, faults and hostile input (real server processes on localhost)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alinea.client.client import Options, TranslationClient
from conftest import REPO, SEED_FR, start_server

sys.path.insert(0, str(REPO / "bench"))
from load import covered, rss_mb, run_load  # noqa: E402

SEED = SEED_FR.read_text(encoding="utf-8")
# CI runs a short profile; ALINEA_LOAD_SECONDS=60 runs the full one.
LOAD_SECONDS = float(os.environ.get("ALINEA_LOAD_SECONDS", "10"))


@pytest.mark.slow
def test_fifty_clients_mixed_load(tiny_model_dir, tmp_path):
    server = start_server(tiny_model_dir, tmp_path / "server.log")
    try:
        with TranslationClient(server.address, timeout=60) as client:
            client.translate(SEED)
        start_rss = rss_mb(server.process.pid)
        report = run_load(server.address, clients=50, seconds=LOAD_SECONDS)
        end_rss = rss_mb(server.process.pid)
    finally:
        assert server.stop() == 0
    print(f"\n{report.summary()}\nserver RSS {start_rss:.0f} MB → {end_rss:.0f} MB")
    assert report.failed == 0, report.by_code
    assert report.incomplete == []
    assert report.by_code["OK"] >= 10
    assert set(report.by_kind) == {"short", "long", "stream", "batch"}
    assert end_rss < start_rss + 300, "server memory climbed under load"


@pytest.mark.slow
def test_sigterm_under_load_loses_no_accepted_call(tiny_model_dir, tmp_path):
    server = start_server(tiny_model_dir, tmp_path / "server.log", "--grace-period", "60")
    outcomes: Counter = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def client_loop() -> None:
        with TranslationClient(server.address, timeout=120) as client:
            while not stop.is_set():
                try:
                    response = client.translate(SEED, options=Options(beam_size=1))
                    outcome = "completed" if covered(SEED, response.segments) is None else "incomplete"
                except grpc.RpcError as exc:
                    outcome = exc.code().name
                with lock:
                    outcomes[outcome] += 1
                if outcome != "completed":
                    time.sleep(0.1)

    threads = [threading.Thread(target=client_loop) for _ in range(12)]
    for t in threads:
        t.start()
    time.sleep(4)
    server.process.send_signal(signal.SIGTERM)
    exit_code = server.process.wait(90)
    stop.set()
    for t in threads:
        t.join(120)
    print(f"\nSIGTERM under load: {dict(outcomes)}, exit code {exit_code}")
    assert exit_code == 0
    assert outcomes["completed"] > 0
    # Refused before acceptance: the server was full, or no longer takes calls.
    lost = {k: v for k, v in outcomes.items() if k not in ("completed", "RESOURCE_EXHAUSTED", "UNAVAILABLE")}
    assert lost == {}, f"accepted calls lost: {lost}"


def test_cancelled_calls_do_not_break_the_server(server):
    with TranslationClient(server.address, timeout=60) as client:
        stream = client.stream(SEED * 3, options=Options(beam_size=1))
        next(stream)
        stream.cancel()  # the client walks away mid-stream
        future = client._stub.TranslateDocument.future(client.request(SEED * 3))
        time.sleep(0.2)
        future.cancel()
        # Half-close at once: no document, no response, no error.
        assert list(client.translate_many([])) == []
        response = client.translate("Bonjour.", options=Options(beam_size=1))
        assert covered("Bonjour.", response.segments) is None


def test_expired_deadline(server):
    with TranslationClient(server.address, timeout=0.05) as client:
        with pytest.raises(grpc.RpcError) as caught:
            client.translate(SEED * 5)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_corrupt_model_gives_a_start_up_error(tiny_model_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.bin").write_bytes(b"\0" * 100)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "alinea.server.main", "--port", "0", "--no-shipped-models", "--model-dir", str(broken)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "cannot load model" in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - started < 30


HOSTILE = [
    "\x00\x00\x00",
    "a\x00b. C\x00d.",
    "\u0301\u0301 \u0308",  # lone combining marks
    "مرحبا بالعالم. שלום עולם.",  # right-to-left
    "👍🏽🇫🇷 Bonjour 👨‍👩‍👧 !",
    "?!… ... «» — ; :",
    "\u202e\u200b\ufeff\u2028\u2029\x0b\x0c\x1c\x85",
    "mot" * 5000,  # one long word
    ("phrase sans fin " * 700).strip(),  # one long paragraph, no punctuation
    "\r\n\r\nLigne.\r\n\r\n",
    "\U0010ffff\ue000\uffff",
]


def check_answer(client: TranslationClient, text: str) -> None:
    try:
        response = client.translate(text, options=Options(beam_size=1))
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, (exc.code(), exc.details())
        assert exc.details() and "Traceback" not in exc.details()
        return
    assert covered(text, response.segments) is None
    for s in response.segments:
        for a in s.alignments:
            assert 0 <= a.source_span.start < a.source_span.end <= len(s.source_text)
            assert 0 <= a.target_span.start < a.target_span.end <= len(s.target_text)


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input(client, text):
    check_answer(client, text)


def test_oversized_input_is_refused_cleanly(client):
    with pytest.raises(grpc.RpcError) as caught:
        client.translate("mot" * 3_500_000)  # ~10 MB of one word
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "over the limit of 20,000" in caught.value.details()
    assert client.translate("Oui.", options=Options(beam_size=1)).segments  # still serving


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=120))
def test_arbitrary_unicode_over_grpc(client, text):
    check_answer(client, text)


def test_busy_server_says_when_to_retry(tiny_model_dir, tmp_path):
    from grpc_status import rpc_status
    from google.rpc import error_details_pb2

    server = start_server(tiny_model_dir, tmp_path / "server.log", "--max-concurrent-requests", "1",
                          "--max-queued-sentences", "30", "--max-batch-tokens", "16")
    # Distinct sentences (identical ones are translated once) in the tiny model's vocabulary.
    words = ("Pékin", "Moscou", "Chine", "Russie", "Otan", "Ukraine")
    sentences = [f"{a} et {b}." for a in words for b in words]
    long_text = " ".join(sentences[:20])
    try:
        with TranslationClient(server.address, timeout=60) as client:
            # More sentences than the queue holds: refused at once.
            with pytest.raises(grpc.RpcError) as caught:
                client.translate(" ".join(sentences[:31]))
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "the queue holds 30" in caught.value.details()
            # Every slot taken by a running stream: refused, with a retry hint.
            stream = client.stream(long_text, options=Options(beam_size=1))
            next(stream)
            with pytest.raises(grpc.RpcError) as caught:
                client.translate("Bonjour.")
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            status = rpc_status.from_call(caught.value)
            retry = error_details_pb2.RetryInfo()
            assert status.details[0].Unpack(retry) and retry.retry_delay.seconds >= 1
            assert len(list(stream)) == 19  # the running call is not disturbed
    finally:
        server.stop()


def test_request_id_comes_back(server):
    from alinea.v1 import translation_pb2 as pb
    from alinea.v1 import translation_pb2_grpc as pb_grpc

    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.TranslationStub(channel)
        _, call = stub.ListModels.with_call(pb.ListModelsRequest(), metadata=(("x-request-id", "abc-123"),), timeout=10)
        assert ("x-request-id", "abc-123") in call.trailing_metadata()
        with pytest.raises(grpc.RpcError) as caught:
            stub.TranslateDocument(pb.TranslateDocumentRequest(text="", target_language_code="en"),
                                   metadata=(("x-request-id", "bad id with spaces"),), timeout=10)
        ids = [v for k, v in caught.value.trailing_metadata() if k == "x-request-id"]
        assert len(ids) == 1 and ids[0] != "bad id with spaces" and len(ids[0]) == 16


def test_metrics_and_json_logs(tiny_model_dir, tmp_path):
    import json
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        metrics_port = probe.getsockname()[1]
    log = tmp_path / "server.log"
    server = start_server(tiny_model_dir, log, "--metrics-port", str(metrics_port), "--log-format", "json")
    try:
        with TranslationClient(server.address, timeout=60) as client:
            client.translate("Bonjour.", options=Options(beam_size=1))
            with pytest.raises(grpc.RpcError):
                client.translate("")
        page = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    finally:
        server.stop()
    assert 'alinea_calls_total{code="OK",method="TranslateDocument"} 1.0' in page
    assert 'alinea_calls_total{code="INVALID_ARGUMENT",method="TranslateDocument"} 1.0' in page
    assert 'alinea_queued_sentences{model="tiny-random-fr-en"} 0.0' in page
    assert "alinea_batch_sentences_bucket" in page
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    calls = [r for r in records if r.get("method") == "TranslateDocument"]
    assert [r["code"] for r in calls] == ["OK", "INVALID_ARGUMENT"]
    assert all(len(r["request_id"]) == 16 and r["ms"] >= 0 for r in calls)
