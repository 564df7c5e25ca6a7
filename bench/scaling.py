"""Throughput per core: one alinea server against `alinea batch` on a local Ray instance, same documents.

Workload: FLORES-200 dev as news-like documents of 4 consecutive sentences
(249 documents), plus the seed news article 10 times as separate
documents; the shipped model (alinea-fr-en), the server's defaults (beam 4,
word alignment and entities on).

* server c=1 / c=8: `alinea-server` with its defaults (CTranslate2 on all
  cores) started by this script; 1 or 8 client threads send one
  TranslateDocument call per document. Server start-up is not timed.
* ray: `alinea.server.batch.run` (what `alinea batch` runs) on a local Ray
  instance with one single-threaded worker per core; once more with
  entities off, to show what named-entity recognition costs. "translate s" is the
  translation phase (workers loaded, until the last shard is written);
  "wall s" adds Ray's start-up, model loading and writing the output.

For each: documents/s, sentences/s, source characters/s and target tokens/s
(translations re-encoded with the model's target.spm), each also per core;
and how many documents come out identical to the server's c=1 output.
Then the arithmetic for translating 10 million news articles on N cores.

    nice python bench/scaling.py                     # prints a markdown table and the projection
    nice python bench/scaling.py --json scaling.json

Run it on an otherwise idle machine: every core is used.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLORES = REPO / "tests" / "quality" / "flores200-dev" / "flores200-dev.fr"
SEED = REPO / "seeds" / "kremlin-pekin.fr.txt"
LINES_PER_DOCUMENT = 4
SEED_COPIES = 10
ARTICLES = 10_000_000
CORE_COUNTS = (16, 64, 256, 1024)


@dataclass
class Row:
    system: str
    cores: int
    documents: int
    sentences: int
    source_chars: int
    target_tokens: int
    translate_s: float
    wall_s: float
    peak_rss_mib: float  # the server process, or one Ray worker
    identical_to_server: int | None = None

    def rate(self, amount: int, per_core: bool = False) -> float:
        return amount / self.translate_s / (self.cores if per_core else 1)


def workload() -> list[tuple[str, str]]:
    lines = FLORES.read_text(encoding="utf-8").splitlines()
    docs = [(f"flores-{i // LINES_PER_DOCUMENT:03d}", "\n".join(lines[i: i + LINES_PER_DOCUMENT]))
            for i in range(0, len(lines) - LINES_PER_DOCUMENT + 1, LINES_PER_DOCUMENT)]
    seed = SEED.read_text(encoding="utf-8")
    return docs + [(f"seed-{k}", seed) for k in range(SEED_COPIES)]


def _target_tokens(model_dir: Path, texts: list[str]) -> int:
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_file=str(model_dir / "target.spm"))
    return sum(len(pieces) for pieces in processor.encode(texts))


def measure_server(docs: list[tuple[str, str]], concurrency: int, cores: int) -> tuple[Row, dict[str, list[str]]]:
    from alinea.client.client import TranslationClient
    from alinea.server.launch import start_local_server

    outputs: dict[str, list[str]] = {}
    with start_local_server(["--log-level", "WARNING", "--grace-period", "5"]) as server:
        with TranslationClient(server.address, timeout=600) as client:
            client.translate(docs[0][1], source_language="fr")  # warm up
        queue = list(reversed(docs))
        lock = threading.Lock()

        def work() -> None:
            with TranslationClient(server.address, timeout=600) as client:
                while True:
                    with lock:
                        if not queue:
                            return
                        doc_id, text = queue.pop()
                    response = client.translate(text, source_language="fr", document_id=doc_id)
                    with lock:
                        outputs[doc_id] = [s.target_text for s in response.segments]

        started = time.monotonic()
        threads = [threading.Thread(target=work) for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.monotonic() - started
        rss = _peak_rss_mib(server.process.pid)
    return _row(f"server c={concurrency}", cores, docs, outputs, seconds, seconds, rss), outputs


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_ray(docs: list[tuple[str, str]], cores: int, entities: str | None = None) -> tuple[Row, dict[str, list[str]]]:
    from alinea.server import batch

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.jsonl"
        source.write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in docs),
                          encoding="utf-8")
        output = Path(tmp) / "out.jsonl"
        started = time.monotonic()
        summary = batch.run(batch.BatchConfig(inputs=(source,), output=output, num_cpus=cores, progress=False,
                                              spec=batch.ModelSpec(entities=entities)))
        wall = time.monotonic() - started
        outputs: dict[str, list[str]] = {}
        for line in output.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            outputs.setdefault(record["document_id"], []).append(record["target_text"])
    assert summary.errors == 0, summary.line()
    name = "ray (alinea batch)" + (f", entities {entities}" if entities else "")
    return _row(name, cores, docs, outputs, summary.seconds, wall, summary.worker_rss_mib), outputs


def _row(system: str, cores: int, docs, outputs: dict[str, list[str]], seconds: float, wall: float,
         rss: float) -> Row:
    from alinea.server.registry import shipped_model_root

    targets = [t for doc_id, _ in docs for t in outputs[doc_id]]
    return Row(system, cores, len(docs), len(targets), sum(len(t) for _, t in docs),
               _target_tokens(shipped_model_root() / "alinea-fr-en", targets), seconds, wall, rss)


def projection(chars_per_core_s: float, article_chars: int, price: float) -> list[str]:
    core_hours = ARTICLES * article_chars / chars_per_core_s / 3600
    lines = [f"10,000,000 articles × {article_chars:,} characters = {ARTICLES * article_chars:,.0f} characters; "
             f"÷ {chars_per_core_s:,.0f} characters/s per core = {core_hours * 3600:,.0f} core-seconds "
             f"= {core_hours:,.0f} core-hours (× ${price}/core-hour = ${core_hours * price:,.0f})"]
    for n in CORE_COUNTS:
        hours = core_hours / n
        lines.append(f"  on {n:>5} cores: {hours:,.1f} h ({hours / 24:,.1f} days)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores to use (default: all)")
    parser.add_argument("--price", type=float, default=0.045, help="dollars per core-hour (default %(default)s)")
    parser.add_argument("--json", type=Path, help="write the rows as JSON")
    args = parser.parse_args(argv)

    docs = workload()
    rows: list[Row] = []
    reference = None
    for concurrency in (1, 8):
        row, outputs = measure_server(docs, concurrency, args.cores)
        reference = reference or outputs
        row.identical_to_server = sum(outputs[d] == reference[d] for d, _ in docs)
        rows.append(row)
        print(f"measured {row.system}", file=sys.stderr)
    for entities in (None, "off"):
        row, outputs = measure_ray(docs, args.cores, entities)
        row.identical_to_server = sum(outputs[d] == reference[d] for d, _ in docs) if entities is None else None
        rows.append(row)
        print(f"measured {row.system}", file=sys.stderr)

    print(f"{len(docs)} documents ({docs[-1][0]} included), {rows[0].sentences:,} sentences, "
          f"{rows[0].source_chars:,} source characters; {args.cores} cores; model alinea-fr-en, beam 4\n")
    print("| system | docs | translate s | wall s | docs/s | docs/s/core | sent/s/core | chars/s/core "
          "| target tok/s/core | peak RSS MiB | same translation as server c=1 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r.system} | {r.documents} | {r.translate_s:.1f} | {r.wall_s:.1f} | {r.rate(r.documents):.2f} "
              f"| {r.rate(r.documents, True):.2f} | {r.rate(r.sentences, True):.1f} | {r.rate(r.source_chars, True):,.0f} "
              f"| {r.rate(r.target_tokens, True):,.0f} | {r.peak_rss_mib:,.0f} "
              f"| {'' if r.identical_to_server is None else f'{r.identical_to_server}/{r.documents}'} |")
    best = max(rows[:3], key=lambda r: r.rate(r.source_chars))  # with the default settings
    print(f"\nprojection from {best.system} ({best.rate(best.source_chars, True):,.0f} source characters/s per core):")
    for chars in (SEED.read_text(encoding="utf-8").__len__(), 5_000):
        print("\n".join(projection(best.rate(best.source_chars, True), chars, args.price)))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
