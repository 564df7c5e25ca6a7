"""Load generator: many concurrent clients sending mixed calls to one server.

Each client loops until time is up, choosing among a short document, a long
document, a streamed document and a batch of documents over
TranslateDocuments, and checks every answer: segments complete (their spans
reproduce the text and cover every visible character) and in order, batch
responses in request order. RESOURCE_EXHAUSTED is the server's intended
answer when it is full: the client backs off and tries again. Anything else
that is not OK is a failure.

    python bench/load.py --clients 50 --seconds 60                 # starts a server on the default model
    python bench/load.py --server localhost:50051 --clients 50 --seconds 60
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from alinea.client.client import Options, TranslationClient
from alinea.server.launch import start_local_server

REPO = Path(__file__).resolve().parent.parent
SEED = (REPO / "seeds" / "kremlin-pekin.fr.txt").read_text(encoding="utf-8")
SHORT = [
    "Bonjour.",
    "Le président russe est attendu à Pékin.",
    "Merci beaucoup !\n\nÀ demain.",
    "100.000 militaires, dit-il… Vraiment ?",
]


@dataclass
class LoadReport:
    clients: int
    seconds: float
    calls: int = 0
    by_code: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)
    incomplete: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """Calls that ended in anything but OK or the intended RESOURCE_EXHAUSTED."""
        return sum(n for code, n in self.by_code.items() if code not in ("OK", "RESOURCE_EXHAUSTED"))

    def summary(self) -> str:
        lat = sorted(self.latencies) or [0.0]
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
        codes = ", ".join(f"{c} {n}" for c, n in sorted(self.by_code.items()))
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.by_kind.items()))
        return (
            f"{self.clients} clients for {self.seconds:.0f}s: {self.calls} calls ({kinds}); codes: {codes}; "
            f"failed (not OK/RESOURCE_EXHAUSTED): {self.failed}; incomplete or out of order: {len(self.incomplete)}; "
            f"latency of OK calls p50 {p(0.5):.2f}s p95 {p(0.95):.2f}s p99 {p(0.99):.2f}s"
        )


def covered(text: str, segments) -> str | None:
    """Why `segments` do not cover `text` completely and in order (None when they do)."""
    last_end, seen = 0, set()
    for i, s in enumerate(segments):
        if s.index != i:
            return f"segment {i} has index {s.index}"
        if s.source_span.start < last_end or text[s.source_span.start : s.source_span.end] != s.source_text:
            return f"segment {i}: bad span {s.source_span.start}-{s.source_span.end}"
        last_end = s.source_span.end
        seen.update(range(s.source_span.start, s.source_span.end))
    missing = [i for i, c in enumerate(text) if not c.isspace() and i not in seen]
    return f"{len(missing)} characters not covered" if missing else None


def _one_call(client: TranslationClient, kind: str, rng: random.Random) -> str | None:
    options = Options(beam_size=1)
    if kind == "short":
        text = rng.choice(SHORT)
        return covered(text, client.translate(text, options=options).segments)
    if kind == "long":
        return covered(SEED, client.translate(SEED, options=options).segments)
    if kind == "stream":
        return covered(SEED, list(client.stream(SEED, options=options)))
    texts = [rng.choice(SHORT) for _ in range(rng.randint(2, 5))]
    requests = [client.request(t, document_id=str(i), options=options) for i, t in enumerate(texts)]
    responses = list(client.translate_many(requests))
    if [r.document_id for r in responses] != [str(i) for i in range(len(texts))]:
        return "batch responses out of order"
    for text, response in zip(texts, responses):
        if response.HasField("error"):
            return f"batch document failed: {response.error.message}"
        if problem := covered(text, response.segments):
            return problem
    return None


def run_load(address: str, clients: int = 50, seconds: float = 60, seed: int = 0, timeout: float = 120) -> LoadReport:
    report = LoadReport(clients, seconds)
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client_loop(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        backoff = 0.05
        with TranslationClient(address, timeout=timeout) as client:
            while time.monotonic() < stop_at:
                kind = rng.choice(("short", "short", "long", "stream", "batch"))
                started = time.monotonic()
                try:
                    problem = _one_call(client, kind, rng)
                    code = "OK"
                except grpc.RpcError as exc:
                    problem, code = None, exc.code().name
                elapsed = time.monotonic() - started
                with lock:
                    report.calls += 1
                    report.by_code[code] += 1
                    report.by_kind[kind] += 1
                    if code == "OK":
                        report.latencies.append(elapsed)
                    if problem:
                        report.incomplete.append(f"{kind}: {problem}")
                if code == "RESOURCE_EXHAUSTED":
                    time.sleep(backoff * (1 + rng.random()))
                    backoff = min(backoff * 2, 1.0)
                else:
                    backoff = 0.05

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return report


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="address of a running server (default: start one on the default model)")
    parser.add_argument("--model-dir", type=Path, help="when starting a server: serve only this model")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()

    server = None
    address = args.server
    if address is None:
        flags = ["--log-level", "WARNING"]
        if args.model_dir:
            flags += ["--no-shipped-models", "--model-dir", str(args.model_dir)]
        server = start_local_server(flags)
        address = server.address
    try:
        with TranslationClient(address, timeout=60) as client:
            client.translate(SEED)  # warm up before measuring memory
        start_rss = rss_mb(server.process.pid) if server else None
        report = run_load(address, args.clients, args.seconds)
        end_rss = rss_mb(server.process.pid) if server else None
    finally:
        if server:
            server.stop()
    print(report.summary())
    if start_rss is not None:
        print(f"server RSS: {start_rss:.0f} MB after warm-up, {end_rss:.0f} MB after the load")
    for problem in report.incomplete[:10]:
        print(f"  incomplete: {problem}")
    return 0 if report.failed == 0 and not report.incomplete else 1


if __name__ == "__main__":
    sys.exit(main())
