"""What word alignment and entity preservation each cost at saturation, measured in one server process.

The throughput bench (throughput.py) compares alinea with both options on
and with both off against raw CTranslate2; this one splits the difference.
One process builds the server's own translation path (the model with the
server's CTranslate2 settings, its Batcher with the server's defaults, the
entity recognizer, the Pipeline, the conversion to the gRPC response) and
`--concurrency` threads keep it saturated with documents, each thread one
document at a time, round and round. New documents start with one of
four combinations of options at a time; after each change the documents
started before it are left SETTLE_SECONDS to finish, then `--slot`
seconds are measured, counting the documents started with the new
combination that finish in them:

* neither: word_alignment off, entities off;
* alignment: word alignment on (the model is asked for its attention);
* entities: entity preservation on (recognition, check and repair; the
  model is asked for its attention, which repairs need), alignment off;
* both: the server's defaults.

Each round measures every combination once, in an order that rotates
from round to round, and each combination's documents/s is divided by
that of "neither" in the same round: the machine's drift (a shared
machine's speed moves by a quarter from one minute to the next) mostly
cancels out of these paired ratios. Prints, per combination, the median
ratio with its p10-p90 over the rounds, documents/s and this process's
CPU per document, split between its Python threads (the service's own
work: segmenting, entity recognition, reading the model's results,
aligning, carrying entities, building responses) and the threads Python
did not start (CTranslate2's replicas: the model itself), so that an
option's cost shows on the side where it is paid. With ``--parts`` it
also times the service's own work part by part (entity recognition,
aligning, ...), each part by the CPU clock of the thread that runs it.

Workload: the first ``--sentences`` lines of the FLORES-200 dev set, as
documents of 10 lines, as in throughput.py. gRPC itself is left out: it
costs the same whichever options a call asks for.

    python bench/options.py                  # 10 rounds of 4 slots of 8 s (after 3 s each): about 8 minutes
    python bench/options.py --rounds 20 --json options.json
    python bench/options.py --parts            # and where the Python threads' CPU goes
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from alinea.server.records import OFF, TranslationOptions

# The throughput bench's workload and model choice (bench/, this script's directory, is on sys.path).
from throughput import FLORES, LINES_PER_DOCUMENT, default_model_dir, server_translator_settings

# After each change of options, before the slot's clock starts: documents started under the previous options
# finish (at concurrency 16 one takes about 2 s).
SETTLE_SECONDS = 3.0
BASELINE = "neither"
COMBINATIONS = {
    BASELINE: TranslationOptions(word_alignment=False, entities=OFF),
    "alignment": TranslationOptions(entities=OFF),
    "entities": TranslationOptions(word_alignment=False),
    "both": TranslationOptions(),
}


# The service's own work, part by part (--parts): where to find each function, and what it does. A part
# indented under another runs inside it.
PARTS = (
    ("alinea.server.pipeline", "Pipeline._prepare", "segmenting and tokenizing"),
    ("alinea.server.entities", "EntityRecognizer.find", "finding entities (rules and NER)"),
    ("alinea.server.translate", "_hypothesis", "reading CTranslate2's results (attention included)"),
    ("alinea.server.pipeline", "Pipeline._segment", "finishing sentences (detokenizing, aligning, entities)"),
    ("alinea.server.pipeline", "align", "  of which aligning words"),
    ("alinea.server.pipeline", "carry", "  of which checking and repairing entities"),
    ("alinea.server.service", "to_response", "building the response"),
)


class PartClock:
    """CPU seconds spent in each of PARTS, all threads together, once install() has wrapped them.

    Each call is timed by its own thread's CPU clock: time spent waiting
    (for a lock, for the model) or preempted by another thread is not counted.
    """

    def __init__(self) -> None:
        self._seconds = dict.fromkeys((label for _, _, label in PARTS), 0.0)
        self._lock = threading.Lock()

    def install(self) -> None:
        for module, attribute, label in PARTS:
            owner = importlib.import_module(module)
            *path, name = attribute.split(".")
            for step in path:
                owner = getattr(owner, step)
            setattr(owner, name, self._timed(getattr(owner, name), label))

    def _timed(self, function, label: str):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                with self._lock:
                    self._seconds[label] += spent
        return timed

    def read(self) -> dict[str, float]:
        with self._lock:
            return dict(self._seconds)


@dataclass
class Slot:
    """One combination's measurement in one round."""

    combination: str
    documents: int
    seconds: float
    cpu_seconds: float
    # CPU of the Python threads alone (None where the platform cannot read a thread's CPU clock).
    python_cpu_seconds: float | None = None
    # CPU seconds in each of PARTS (with --parts).
    parts: dict[str, float] | None = None

    @property
    def rate(self) -> float:
        return self.documents / self.seconds


def documents(sentences: int) -> list[str]:
    lines = FLORES.read_text(encoding="utf-8").splitlines()[:sentences]
    return ["\n".join(lines[i : i + LINES_PER_DOCUMENT]) for i in range(0, len(lines), LINES_PER_DOCUMENT)]


def python_thread_cpu() -> dict[int, float] | None:
    """CPU seconds of each live Python thread, by ident; None without per-thread CPU clocks (Windows)."""
    if not hasattr(time, "pthread_getcpuclockid"):
        return None
    clocks = {}
    for thread in threading.enumerate():
        try:
            clocks[thread.ident] = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except OSError:  # it ended since enumerate()
            pass
    return clocks


def cpu_spent(before: dict[int, float] | None, after: dict[int, float] | None) -> float | None:
    """CPU the Python threads alive at both readings spent between them."""
    if before is None or after is None:
        return None
    return sum(after[ident] - before[ident] for ident in after.keys() & before.keys())


def rotated(round_index: int) -> list[str]:
    """The combinations in the order of this round: each starts a round in turn."""
    names = list(COMBINATIONS)
    k = round_index % len(names)
    return names[k:] + names[:k]


def measure(model_dir: Path | None, docs: list[str], rounds: int, slot_seconds: float,
            concurrency: int, parts: PartClock | None = None) -> list[list[Slot]]:
    """`rounds` rounds, each a slot per combination, with `concurrency` threads translating `docs` throughout.

    With `parts`, its functions are timed too (it wraps them before the pipeline is built).
    """
    if parts is not None:
        parts.install()
    from alinea.server.batcher import Batcher
    from alinea.server.config import ServerConfig
    from alinea.server.entities import recognizer_for
    from alinea.server.pipeline import Pipeline
    from alinea.server.registry import load_model, primary_subtag
    from alinea.server.service import to_response

    config = ServerConfig()  # the server's defaults, as alinea-server builds them
    model_dir = model_dir or default_model_dir()
    model = load_model(model_dir, server_translator_settings(model_dir))
    recognizer = recognizer_for(primary_subtag(model.manifest.source_language),
                                primary_subtag(model.manifest.target_language))
    if recognizer is None:
        raise SystemExit(f"options: no entity recognizer for {model.manifest.name}: entities cannot be measured")
    batcher = Batcher(model.translator, max_batch_tokens=config.max_batch_tokens,
                      max_wait=config.batch_wait_ms / 1000, workers=config.inter_threads, name=model.manifest.name)
    pipeline = Pipeline(model, batcher, recognizer=recognizer)
    current = [BASELINE]  # the combination new documents start with
    completed = dict.fromkeys(COMBINATIONS, 0)  # documents finished, by the combination they started with
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def client(k: int) -> None:
        i = k * len(docs) // concurrency
        try:
            while not stop.is_set():
                name = current[0]
                to_response("", pipeline.translate(docs[i % len(docs)], COMBINATIONS[name]))
                with lock:
                    completed[name] += 1
                i += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(concurrency)]
    for thread in threads:
        thread.start()
    results = []
    try:
        for r in range(rounds):
            slots = []
            for name in rotated(r):
                current[0] = name
                time.sleep(SETTLE_SECONDS)
                done, cpu, python_cpu = completed[name], time.process_time(), python_thread_cpu()
                in_parts = parts.read() if parts else None
                started = time.perf_counter()
                time.sleep(slot_seconds)
                slots.append(Slot(name, completed[name] - done, time.perf_counter() - started,
                                  time.process_time() - cpu, cpu_spent(python_cpu, python_thread_cpu()),
                                  {k: v - in_parts[k] for k, v in parts.read().items()} if parts else None))
                if errors:
                    raise SystemExit(f"options: translation failed: {errors[0]!r}")
                print(f"round {r + 1}/{rounds}: {name} {slots[-1].rate:.2f} documents/s", file=sys.stderr)
            results.append(slots)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        batcher.close()
    return results


def summary(rounds: list[list[Slot]]) -> dict[str, dict[str, float]]:
    """Per combination: the median and p10-p90 of its paired ratio to "neither", documents/s, CPU ms per document
    (all threads, then the Python threads' and the others' shares where known)."""
    by_name: dict[str, list[Slot]] = {}
    ratios: dict[str, list[float]] = {}
    for slots in rounds:
        baseline = next(s for s in slots if s.combination == BASELINE)
        for slot in slots:
            by_name.setdefault(slot.combination, []).append(slot)
            ratios.setdefault(slot.combination, []).append(slot.rate / baseline.rate)
    found = {}
    for name, slots in by_name.items():
        deciles = statistics.quantiles(ratios[name], n=10, method="inclusive")  # needs two rounds or more
        documents = max(1, sum(s.documents for s in slots))
        cpu = sum(s.cpu_seconds for s in slots) / documents * 1000
        python = None if any(s.python_cpu_seconds is None for s in slots) else (
            sum(s.python_cpu_seconds for s in slots) / documents * 1000)
        found[name] = {
            "ratio": statistics.median(ratios[name]),
            "ratio_p10": deciles[0],
            "ratio_p90": deciles[-1],
            "documents_per_second": statistics.median(s.rate for s in slots),
            "cpu_ms_per_document": cpu,
            "python_cpu_ms_per_document": python,
            "model_cpu_ms_per_document": None if python is None else cpu - python,
        }
        if all(s.parts is not None for s in slots):
            found[name]["parts_ms_per_document"] = {
                label: sum(s.parts[label] for s in slots) / documents * 1000 for label in slots[0].parts}
    return found


def ms(value: float | None, decimals: int = 0) -> str:
    """A CPU figure for a table: "—" where the platform could not measure it."""
    return "—" if value is None else f"{value:.{decimals}f}"


def table(found: dict[str, dict[str, float]]) -> list[str]:
    lines = ["| options on | documents/s | ÷ neither (median) | p10–p90 | CPU ms per document | "
             "of which Python threads | of which CTranslate2 |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name in COMBINATIONS:
        f = found[name]
        lines.append(f"| {name} | {f['documents_per_second']:.2f} | {f['ratio']:.3f}× | "
                     f"{f['ratio_p10']:.3f}–{f['ratio_p90']:.3f} | {ms(f['cpu_ms_per_document'])} | "
                     f"{ms(f['python_cpu_ms_per_document'])} | {ms(f['model_cpu_ms_per_document'])} |")
    return lines


def parts_table(found: dict[str, dict]) -> list[str]:
    """The service's own CPU per document, part by part, a column per combination."""
    lines = ["| part of the service's own work, CPU ms per document | " + " | ".join(COMBINATIONS) + " |",
             "|---|" + "---:|" * len(COMBINATIONS)]
    for label in found[BASELINE]["parts_ms_per_document"]:
        lines.append(f"| {label} | " + " | ".join(ms(found[name]["parts_ms_per_document"][label], 1)
                                                 for name in COMBINATIONS) + " |")
    lines.append("| all Python threads | " + " | ".join(ms(found[name]["python_cpu_ms_per_document"], 1)
                                                      for name in COMBINATIONS) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="alinea model directory (default: the shipped default model)")
    parser.add_argument("--sentences", type=int, default=300, help="FLORES dev lines to translate (default 300)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of one slot per combination (default 10)")
    parser.add_argument("--slot", type=float, default=8.0, help="seconds measured per slot (default 8)")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads (default 16)")
    parser.add_argument("--parts", action="store_true",
                        help="also time the service's own work part by part (entity recognition, aligning, ...)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.rounds < 2:
        parser.error("--rounds must be 2 or more: the spread of the ratios needs two rounds")
    rounds = measure(args.model_dir, documents(args.sentences), args.rounds, args.slot, args.concurrency,
                     PartClock() if args.parts else None)
    found = summary(rounds)
    print(f"{args.concurrency} threads, {args.rounds} rounds of {len(COMBINATIONS)} slots of {args.slot:g} s, "
          f"FLORES-200 dev first {args.sentences} lines in documents of {LINES_PER_DOCUMENT}")
    print("\n".join(table(found)))
    if args.parts:
        print()
        print("\n".join(parts_table(found)))
    if args.json:
        data = {"rounds": [[asdict(s) for s in slots] for slots in rounds], "summary": found, "args": vars(args)}
        args.json.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
