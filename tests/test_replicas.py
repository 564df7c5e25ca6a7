"""Three servers on localhost behind one client: calls spread over all of them, and none is lost when one dies.

The client gets the three addresses; gRPC's round_robin policy spreads the
calls, and its retry policy sends a call refused with UNAVAILABLE (or cut
off by a replica that died before answering) to the next replica. Which
replica served a call is read from the servers' access logs.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from alinea.client.client import Options, TranslationClient, channel_target, service_config
from alinea.server.launch import start_local_server

from conftest import SEED_FR

CALLS = 45
THREADS = 6
KILL_AFTER = 12  # calls completed before one replica is killed


def _served(log: Path) -> int:
    return log.read_text(encoding="utf-8").count("TranslateDocument OK")


def test_channel_targets():
    assert channel_target("localhost:50051") == ("localhost:50051", None)
    assert channel_target("dns:///alinea.mt.svc:50051") == ("dns:///alinea.mt.svc:50051", None)
    assert channel_target("127.0.0.1:1, 127.0.0.1:2") == ("ipv4:127.0.0.1:1,127.0.0.1:2", "127.0.0.1:1")
    assert channel_target(["localhost:1", "127.0.0.1:2"]) == ("ipv4:127.0.0.1:1,127.0.0.1:2", "localhost:1")
    assert channel_target(["[::1]:1", "[::1]:2"]) == ("ipv6:[::1]:1,[::1]:2", "[::1]:1")
    with pytest.raises(ValueError, match="mix IPv4 and IPv6"):
        channel_target(["127.0.0.1:1", "[::1]:2"])
    with pytest.raises(ValueError, match="not HOST:PORT"):
        channel_target(["127.0.0.1", "127.0.0.1:2"])
    config = service_config("round_robin")
    assert '"round_robin"' in config and '"UNAVAILABLE"' in config and "alinea.v1.Translation" in config


def test_calls_spread_over_three_replicas_and_survive_one_killed(tmp_path):
    logs = [tmp_path / f"replica-{i}.log" for i in range(3)]
    with ThreadPoolExecutor(3) as pool:  # the three start side by side
        servers = list(pool.map(lambda log: start_local_server(["--grace-period", "5"], log), logs))
    text = "\n\n".join(SEED_FR.read_text(encoding="utf-8").split("\n\n")[:4])  # the first paragraphs
    outcomes: Counter = Counter()
    completed = threading.Event()
    lock = threading.Lock()
    killed_at: list[int] = []
    spans: list[tuple[float, float]] = []  # each call's start and end
    try:
        with TranslationClient(",".join(s.address for s in servers), timeout=120) as client:

            def call(i: int) -> None:
                started = time.monotonic()
                try:
                    response = client.translate(text, source_language="fr", options=Options(beam_size=1),
                                                document_id=str(i))
                    outcome = "ok" if response.translated_text and response.segments else "empty"
                except grpc.RpcError as exc:
                    outcome = exc.code().name
                with lock:
                    spans.append((started, time.monotonic()))
                    outcomes[outcome] += 1
                    if outcomes["ok"] >= KILL_AFTER and not completed.is_set():
                        completed.set()

            with ThreadPoolExecutor(THREADS) as pool:
                futures = [pool.submit(call, i) for i in range(CALLS)]
                assert completed.wait(120)
                # Every replica has served calls before one of them dies, with calls still in flight.
                before = [_served(log) for log in logs]
                kill_time = time.monotonic()
                servers[1].process.send_signal(signal.SIGKILL)
                servers[1].process.wait(30)
                with lock:
                    killed_at.append(outcomes["ok"])
                for future in futures:
                    future.result()
    finally:
        for server in servers:
            server.stop()
    after = [_served(log) for log in logs]
    in_flight = sum(1 for start, end in spans if start < kill_time < end)
    print(f"\ncalls served before the kill {before}, in all {after}; outcomes {dict(outcomes)}; "
          f"replica 1 killed after {killed_at[0]} of {CALLS} calls, with {in_flight} calls in flight")
    assert all(n > 0 for n in before), f"calls did not reach every replica: {before}"
    assert outcomes == Counter({"ok": CALLS}), f"calls lost: {dict(outcomes)}"
    assert killed_at[0] < CALLS and in_flight > 0
    assert after[0] + after[2] >= CALLS - after[1]  # the survivors took over the rest
