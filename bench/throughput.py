"""Throughput and latency of alinea against raw CTranslate2 and Hugging Face transformers, side by side.

Every system translates the same sentences with the same model and beam size:

* CTranslate2 raw: ``ctranslate2.Translator.translate_batch`` on the model
  directory with the server's settings (compute type, threads,
  max_batch_size, decoding limit, the model's length penalty), sources
  tokenized with source.spm as the pipeline does (trailing ``</s>``), no
  attention asked for, one asynchronous call per decoding limit as the
  server makes them. Throughput: all
  sentences of a workload at once, the ceiling. Latency: one call per
  document, documents one after another, the reference for the latency
  target. Its process stays up and makes more throughput passes, one
  before and one after each alinea run (consecutive runs share one):
  each run's ratio to raw is over the mean rate of the two passes around
  it, and alinea's ratio is the median of those paired ratios, so that
  the drift of a shared machine's speed from one minute to the next (raw
  CTranslate2 alone varied by a quarter between runs here) mostly cancels
  out of it. Around the c=1 runs it measures its per-document latencies
  the same way, and alinea's p95 at c=1 is compared with the p95 of
  those. Before alinea runs, it times passes that ask for the
  attention (as alinea does with word alignment or entity repair on)
  in pairs with passes that do not, and the notes give the ratio: that
  much of alinea's gap to raw with both on is the model's own work.
* alinea: TranslateDocument over gRPC to a server this script starts
  (``--port 0 --no-shipped-models --model-dir MODEL``, otherwise its
  defaults) or to ``--server``; N client threads, each with its own
  channel, keep it busy with the workload's documents in turn, and the
  ``--window`` seconds after a warm-up are measured (steady state, see
  measure_alinea); with word alignment and entity preservation on (the
  defaults) and with both off, a run of each in turn at each concurrency.
  The server refuses calls beyond its --max-concurrent-requests (16 by
  default); this script stops at the first failed call.
* transformers, on the same weights: the model directory rebuilt as a
  Hugging Face Marian directory by ``alinea.models.to_hf`` (int8
  dequantized), or ``--hf-model DIR``; MarianTokenizer +
  ``MarianMTModel.generate``, num_beams = beam size, batches of 16
  sentences that share a decoding limit, max_new_tokens = that limit, the
  model's length penalty, CTranslate2's stopping rule (early_stopping),
  torch.set_num_threads(cores). ``--no-transformers`` skips it. Latency as for
  CTranslate2: one document's sentences per call.

Workloads: the first ``--sentences`` lines of the FLORES-200 dev set, sent
as documents of 10 lines (every line break ends a sentence), and the seed
article repeated ``--repeat`` times as separate documents. Each CTranslate2
and alinea measurement runs ``--runs`` times (transformers, the slowest by
far, once): a row's throughput is its median run, its latency percentiles
are over the documents of every run. The sentences are
those the server translates: the pipeline's own segmentation, sentences
without words left out (the server copies them), duplicates within a
document translated once.

Measures: target tokens/s (translations re-encoded with the model's
target.spm, the same count for every system; a sentence alinea repaired
entities in counts the model's own translation of it, see
translated_counts), sentences/s, per-document
latency p50/p95/p99, peak RSS (VmHWM: of the server process for alinea; of
the fresh subprocess that runs the measurement for CTranslate2 and
transformers), and ratios to raw CTranslate2; also alinea's own CPU per
document with the translation excluded (see overheads), the per-request
cost that decides how close to raw it can come, and the server's CPU per
document in each run, translation included (see server_cpu), which shows
what load adds to it. Prints a markdown table and
PASS/FAIL lines for the targets; ``--json OUT`` writes the same as JSON.

    python bench/throughput.py --sentences 300 --repeat 10
    python bench/throughput.py --model-dir models/opus-mt-fr-en --hf-model ~/opus-mt-fr-en --json bench.json
    python bench/throughput.py --server localhost:50051 --concurrency 16 --no-transformers   # a running server (no RSS)

Heavy modules (ctranslate2, torch, grpc) are imported where they are used,
so that each measurement subprocess loads only what it measures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shlex
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace

from alinea.server.launch import LocalServer, start_local_server

REPO = Path(__file__).resolve().parent.parent
FLORES = REPO / "tests" / "quality" / "flores200-dev" / "flores200-dev.fr"
SEED = REPO / "seeds" / "kremlin-pekin.fr.txt"
LINES_PER_DOCUMENT = 10
HF_BATCH_SIZE = 16
CALL_TIMEOUT = 600.0
# alinea's measurement window opens this long after its clients start (see measure_alinea).
WARM_UP_SECONDS = 2.0
# Raw CTranslate2's throughput around each alinea run is timed over passes lasting at least this long
# together: one pass takes 2-3 s, and a sample that short carries more of the machine's drift.
RAW_PASS_SECONDS = 5.0
# Pairs of raw passes, with and without attention, that measure what asking for it costs the model.
ATTENTION_PAIRS = 10

# Targets: alinea at c=16 against the raw CTranslate2 ceiling, and so on.
TARGET_CONCURRENCY = 16
MIN_RATIO_ALIGNMENT_ON = 0.85
MIN_RATIO_ALIGNMENT_OFF = 0.95
MIN_RATIO_TO_TRANSFORMERS = 5.0
MAX_LATENCY_RATIO = 1.3
LATENCY_WORKLOAD = "seed"
MAX_SERVER_RSS_MIB = 1.5 * 1024

ENTITY_NOTE = ("entities: a sentence whose entities the server repaired counts the tokens the model wrote for it "
               "(raw CTranslate2's translation of that sentence), not those of the repaired text")


# -- results ------------------------------------------------------------------


@dataclass
class Row:
    """One system on one workload."""

    workload: str
    system: str  # "ctranslate2", "alinea" or "transformers"
    documents: int
    sentences: int
    target_tokens: int
    seconds: float
    latencies: list[float] = field(repr=False)
    peak_rss_mib: float | None
    concurrency: int | None = None
    word_alignment: bool | None = None
    # alinea: the median over its runs of each run's tok/s over raw CTranslate2's in passes just before and after it.
    paired_ratio: float | None = None
    # alinea: the CPU time the server process used during the measured window (None for a --server).
    server_cpu_seconds: float | None = None
    # alinea at c=1: raw CTranslate2's per-document latencies in passes just before and after its runs.
    paired_latencies: list[float] = field(default_factory=list, repr=False)

    @property
    def label(self) -> str:
        if self.system == "alinea":
            return f"alinea c={self.concurrency} align+entities {'on' if self.word_alignment else 'off'}"
        return {"ctranslate2": "CTranslate2 raw", "transformers": "transformers"}[self.system]

    @property
    def tokens_per_second(self) -> float:
        return self.target_tokens / self.seconds

    @property
    def sentences_per_second(self) -> float:
        return self.sentences / self.seconds

    def latency(self, q: float) -> float:
        return percentile(self.latencies, q)

    def ratio_to(self, baseline: Row) -> float:
        """Tokens per second over raw CTranslate2's: paired pass by pass where measured so."""
        return self.paired_ratio if self.paired_ratio is not None else self.tokens_per_second / baseline.tokens_per_second

    def raw_latency_p95(self, baseline: Row) -> float:
        """Raw CTranslate2's p95 latency: in its passes around this row's runs where measured so."""
        return percentile(self.paired_latencies, 95) if self.paired_latencies else baseline.latency(95)

    def latency_ratio_to(self, baseline: Row) -> float:
        return self.latency(95) / self.raw_latency_p95(baseline)

    def to_json(self, baseline: Row) -> dict:
        data = {k: v for k, v in asdict(self).items() if k not in ("latencies", "paired_latencies")}
        data.update(
            label=self.label,
            tokens_per_second=self.tokens_per_second,
            sentences_per_second=self.sentences_per_second,
            latency_p50=self.latency(50),
            latency_p95=self.latency(95),
            latency_p99=self.latency(99),
            tokens_per_second_ratio=self.ratio_to(baseline),
            latency_p95_ratio=self.latency_ratio_to(baseline),
        )
        return data


@dataclass(frozen=True)
class Target:
    description: str
    passed: bool | None  # None: not measured in this run
    detail: str

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "SKIP"}[self.passed]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile, interpolated linearly between the nearest values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# -- machine, memory, model -----------------------------------------------------


def vm_hwm_mib(pid: int | str = "self") -> float:
    """Peak resident set size (VmHWM) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, all its threads together."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def default_model_dir() -> Path:
    """The shipped default model: the first one under the package's models/ that is not test-only."""
    from alinea.models.manifest import Manifest
    from alinea.server.registry import discover, shipped_model_root

    root = shipped_model_root()
    for path in discover([root]):
        if not Manifest.read(path).test_only:
            return path
    raise SystemExit(
        f"throughput: no shipped model under {root} (only test-only models, or none): "
        "convert one with alinea-convert and pass --model-dir"
    )


def server_translator_settings(model_dir: Path):
    """The TranslatorSettings alinea-server uses for `model_dir` with its default configuration."""
    from alinea.models.manifest import Manifest
    from alinea.server.config import ServerConfig
    from alinea.server.translate import TranslatorSettings

    config = ServerConfig()
    return TranslatorSettings(inter_threads=config.inter_threads, intra_threads=config.intra_threads,
                              length_penalty=Manifest.read(Path(model_dir)).length_penalty,
                              vocabulary_map=config.vocabulary_map)


class TargetPieces:
    """Counts target tokens the same way for every system: the text re-encoded with target.spm."""

    def __init__(self, model_dir: Path):
        import sentencepiece as spm

        self._sp = spm.SentencePieceProcessor(model_file=str(Path(model_dir) / "target.spm"))

    def count(self, text: str) -> int:
        return len(self._sp.encode(text))


# -- workloads ----------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    documents: list[str]
    # Per document: the distinct sentences the server translates, in order.
    sentences: list[list[str]]

    @property
    def sentence_count(self) -> int:
        return sum(len(s) for s in self.sentences)


def translated_sentences(text: str, tokenizer) -> list[str]:
    """The distinct sentences the server translates for `text`, in order.

    The pipeline's own preparation does the work (segmentation, over-long
    sentences cut, sentences without words copied rather than translated),
    so every system gets exactly the server's sentences; it needs only the
    tokenizer, no model or batcher.
    """
    from alinea.server.pipeline import Pipeline

    pipeline = Pipeline(SimpleNamespace(tokenizer=tokenizer), batcher=object())
    distinct: dict[tuple[str, ...], str] = {}
    for unit in pipeline._prepare(text):
        if unit.pieces is not None:
            distinct.setdefault(tuple(unit.pieces.tokens), unit.sentence.text)
    return list(distinct.values())


def build_workloads(model_dir: Path, sentences: int, repeat: int) -> list[Workload]:
    from alinea.server.tokenize import SourceTokenizer

    tokenizer = SourceTokenizer(model_dir / "source.spm")
    lines = FLORES.read_text(encoding="utf-8").splitlines()[:sentences]
    flores = ["\n".join(lines[i : i + LINES_PER_DOCUMENT]) for i in range(0, len(lines), LINES_PER_DOCUMENT)]
    seed = [SEED.read_text(encoding="utf-8")] * repeat
    return [
        Workload(name, documents, [translated_sentences(d, tokenizer) for d in documents])
        for name, documents in (("flores", flores), ("seed", seed))
    ]


# -- raw CTranslate2 (in a subprocess) ------------------------------------------


class RawCTranslate2:
    """Raw CTranslate2 in a spawned process of its own, alive for the whole benchmark.

    Its own process, so that its peak RSS is its own; alive, so that raw
    passes can bracket each alinea run (`throughput_pass`):
    this machine's speed drifts by a quarter from minute to minute, and a
    ratio between measurements minutes apart would measure the drift.
    """

    def __init__(self, model_dir: Path, workloads: list[Workload], beam_size: int):
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_raw_start,
                                         initargs=(str(model_dir), workloads, beam_size))

    def measure(self, workload: str, runs: int) -> tuple[Row, dict[str, str]]:
        """`runs` throughput passes (the median counts) and per-document latencies; each sentence's translation.

        The translations are the model's own output, which alinea's repaired
        sentences are counted by (translated_counts).
        """
        row, translations = self._pool.submit(_raw_measure, workload, runs).result()
        return Row(**row), translations

    def throughput_pass(self, workload: str) -> float:
        """Seconds per pass over the workload's sentences, passes repeated for RAW_PASS_SECONDS at least."""
        return self._pool.submit(_raw_pass, workload, RAW_PASS_SECONDS).result()

    def attention_cost(self, workload: str, pairs: int) -> list[float]:
        """Time of a pass with attention over the time of one without, per pair of passes, the order alternating."""
        return self._pool.submit(_raw_attention_ratios, workload, pairs).result()

    def latency_pass(self, workload: str) -> list[float]:
        """Seconds per document, documents one after another."""
        return self._pool.submit(_raw_latencies, workload).result()

    def close(self) -> None:
        self._pool.shutdown()


_RAW = SimpleNamespace()  # the raw CTranslate2 process's state (_raw_start)


def _raw_start(model_dir: str, workloads: list[Workload], beam_size: int) -> None:
    import ctranslate2

    from alinea.server.tokenize import EOS, SourceTokenizer, TargetDetokenizer
    from alinea.server.translate import uses_vocabulary_map

    settings = server_translator_settings(model_dir)
    vocabulary_map = uses_vocabulary_map(model_dir, settings)
    translator = ctranslate2.Translator(
        model_dir,
        device="cpu",
        compute_type=settings.compute_type,
        inter_threads=settings.inter_threads,
        intra_threads=settings.intra_threads,
    )
    tokenizer = SourceTokenizer(Path(model_dir) / "source.spm")

    def translate(batch: list[list[str]], attention: bool = False):
        # The options of alinea.server.translate.Translator.translate: one asynchronous call per
        # decoding limit, all in flight at once.
        calls = [
            (positions, translator.translate_batch(
                [batch[i] for i in positions],
                beam_size=beam_size,
                max_batch_size=settings.max_batch_tokens,
                batch_type="tokens",
                return_scores=True,
                max_input_length=0,
                max_decoding_length=limit,
                repetition_penalty=1.0,
                length_penalty=settings.length_penalty,
                use_vmap=vocabulary_map,
                return_attention=attention,
                return_end_token=attention,
                asynchronous=True,
            ))
            for limit, positions in settings.by_decoding_limit([len(tokens) for tokens in batch]).items()
        ]
        results = [None] * len(batch)
        for positions, pending in calls:
            for i, result in zip(positions, pending):
                results[i] = result.result()
        return results

    _RAW.translate = translate
    # Tokenized beforehand: only translate_batch is timed.
    _RAW.documents = {w.name: [[tokenizer.encode(s).tokens + [EOS] for s in document] for document in w.sentences]
                      for w in workloads}
    _RAW.workloads = {w.name: w for w in workloads}
    _RAW.detokenizer = TargetDetokenizer(Path(model_dir) / "target.spm")
    _RAW.pieces = TargetPieces(Path(model_dir))
    translate(_RAW.documents[workloads[0].name][0][:2])  # warm-up


def _timed_pass(workload: str, attention: bool = False) -> tuple[float, list]:
    """Seconds for one pass over the workload's sentences, and CTranslate2's results."""
    sentences = [sentence for document in _RAW.documents[workload] for sentence in document]
    started = time.perf_counter()
    results = _RAW.translate(sentences, attention)
    return time.perf_counter() - started, results


def _raw_pass(workload: str, min_seconds: float) -> float:
    passes, elapsed = 0, 0.0
    while passes == 0 or elapsed < min_seconds:
        elapsed += _timed_pass(workload)[0]
        passes += 1
    return elapsed / passes


def _raw_attention_ratios(workload: str, pairs: int) -> list[float]:
    ratios = []
    for k in range(pairs):
        seconds = {attention: _timed_pass(workload, attention)[0]
                   for attention in ((False, True) if k % 2 == 0 else (True, False))}
        ratios.append(seconds[True] / seconds[False])
    return ratios


def attention_cost(ratios: dict[str, list[float]]) -> list[str]:
    """What asking the model for its attention costs raw CTranslate2, which alinea does whenever word alignment
    or entity repair is on: that part of alinea's gap to raw with both on is the model's own work."""
    return [
        f"{workload}: raw CTranslate2 asked for attention, as alinea asks whenever word alignment or entity repair "
        f"is on, takes {percentile(r, 50):.3f}× its time without (median of {len(r)} pairs of passes, the order "
        f"alternating; p10–p90 {percentile(r, 10):.3f}–{percentile(r, 90):.3f})"
        for workload, r in ratios.items() if r
    ]


def _raw_latencies(workload: str) -> list[float]:
    return timed_per_document(_RAW.translate, _RAW.documents[workload])


def _raw_measure(workload: str, runs: int) -> tuple[dict, dict[str, str]]:
    durations, latencies = [], []
    for _ in range(runs):
        seconds, results = _timed_pass(workload)
        durations.append(seconds)
        latencies += timed_per_document(_RAW.translate, _RAW.documents[workload])
    texts = [_RAW.detokenizer.decode(r.hypotheses[0])[0] for r in results]
    w = _RAW.workloads[workload]
    translations = dict(zip((s for document in w.sentences for s in document), texts))
    tokens = sum(_RAW.pieces.count(text) for text in texts)
    return raw_row(w, "ctranslate2", tokens, percentile(durations, 50), latencies), translations


def timed_per_document(translate, documents: list) -> list[float]:
    """Seconds per document, each document's sentences in one call, one document after another."""
    latencies = []
    for document in documents:
        started = time.perf_counter()
        translate(document)
        latencies.append(time.perf_counter() - started)
    return latencies


def raw_row(workload: Workload, system: str, tokens: int, seconds: float, latencies: list[float]) -> dict:
    """A Row as a plain dict, to cross the process boundary; VmHWM of this process so far."""
    return asdict(Row(workload.name, system, len(workload.documents), workload.sentence_count, tokens, seconds,
                      latencies, vm_hwm_mib()))


def pairing_noise(passes: dict[str, list[float]]) -> list[str]:
    """How far the pairing of alinea's runs with raw CTranslate2 strays when raw is paired with itself.

    `passes`: each workload's raw throughput passes (seconds), in the order
    they ran around alinea's runs. Each inner pass gets the ratio an alinea
    run would: its rate over the rate of the mean of its neighbours. Its
    neighbours lie up to two alinea runs apart where a run's lie one apart,
    so the spread is, if anything, wider than that of alinea's pairings: a
    paired ratio closer to a target than this spread is not a verdict this
    machine can give.
    """
    lines = []
    for workload, seconds in passes.items():
        ratios = [(seconds[k - 1] + seconds[k + 1]) / (2 * seconds[k]) for k in range(1, len(seconds) - 1)]
        if ratios:
            lines.append(f"{workload}: pairing noise, raw CTranslate2 paired with its own neighbouring passes: "
                         f"median {percentile(ratios, 50):.3f}, p10–p90 {percentile(ratios, 10):.3f}–"
                         f"{percentile(ratios, 90):.3f} over {len(ratios)} passes")
    return lines


def median_run(runs: list[Row]) -> Row:
    """The run of median throughput, with the latencies of every run and the median of their paired ratios."""
    median = sorted(runs, key=lambda r: r.tokens_per_second)[len(runs) // 2]
    ratios = [run.paired_ratio for run in runs if run.paired_ratio is not None]
    return replace(median, latencies=[latency for run in runs for latency in run.latencies],
                   paired_ratio=percentile(ratios, 50) if ratios else None)


def in_subprocess(function, *args):
    """function(*args) in a fresh spawned process; its return value."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def overheads(model_dir: Path, workloads: list[Workload], rows: list[Row], cores: int) -> list[str]:
    """alinea's own CPU per document, translation excluded, against raw CTranslate2's CPU for it.

    Everything the server does besides translating runs on the same cores
    as the model: at saturation every millisecond of it is a millisecond
    the model does not get. Measured here in this process, with nothing
    else running: the pipeline and the conversion to the gRPC response,
    with the model's translations made beforehand (PrecomputedBatcher);
    entity recognition alone as well, also with thinc's default BLIS
    kernels, which the server does not use (see EntityRecognizer).
    """
    from alinea.server.entities import EntityRecognizer
    from alinea.server.pipeline import Pipeline
    from alinea.server.records import OFF, TranslationOptions
    from alinea.server.registry import load_model
    from alinea.server.service import to_response

    model = load_model(model_dir, server_translator_settings(model_dir))
    recognizer, blis = EntityRecognizer(), EntityRecognizer(use_blis=True)
    pipeline = Pipeline(model, batcher=PrecomputedBatcher(model.translator), recognizer=recognizer)
    lines = []
    for workload in workloads:
        documents = workload.documents
        spans = [[unit.sentence.span for unit in pipeline._prepare(d)] for d in documents]
        mode = {}
        for name, options in (("on", TranslationOptions()), ("off", TranslationOptions(word_alignment=False,
                                                                                      entities=OFF))):
            mode[name] = cpu_per_document(documents, lambda d, o=options: to_response("", pipeline.translate(d, o)))
        ner = cpu_per_document(range(len(documents)), lambda i: recognizer.find(documents[i], None, spans[i]))
        ner_blis = cpu_per_document(range(len(documents)), lambda i: blis.find(documents[i], None, spans[i]))
        raw = baseline_of(rows, workload.name)
        model_cpu = raw_cpu_per_document(raw, cores)
        lines.append(
            f"{workload.name}: alinea's own CPU per document, translation excluded: {mode['on']:.1f} ms with "
            f"alignment and entities on (entity recognition alone {ner:.1f} ms; {ner_blis:.1f} ms with thinc's "
            f"default BLIS kernels), {mode['off']:.1f} ms off; raw CTranslate2 {model_cpu:.0f} ms ({cores} cores × "
            f"its time per document). Were that all, alinea could reach {model_cpu / (model_cpu + mode['on']):.2f}× "
            f"raw on, {model_cpu / (model_cpu + mode['off']):.2f}× off"
        )
    return lines


def raw_cpu_per_document(raw: Row, cores: int) -> float:
    """Milliseconds of CPU per document for raw CTranslate2: every core busy for its time per document."""
    return cores * raw.seconds / raw.documents * 1000


def server_cpu(rows: list[Row], cores: int) -> list[str]:
    """The server's CPU per document in each alinea run, translation included, against raw CTranslate2's.

    Set beside the own CPU that overheads() measures with nothing else
    running, it shows what load adds: the Python threads and the model
    slow each other down on shared cores.
    """
    lines = []
    for raw in (r for r in rows if r.system == "ctranslate2"):
        measured = [r for r in rows if r.workload == raw.workload and r.system == "alinea"
                    and r.server_cpu_seconds is not None]
        if measured:
            each = ", ".join(f"{r.server_cpu_seconds / r.documents * 1000:.0f} ms at c={r.concurrency} "
                             f"{'on' if r.word_alignment else 'off'}" for r in measured)
            lines.append(f"{raw.workload}: the server's CPU per document in the measured window, translation "
                         f"included: {each}; raw CTranslate2 {raw_cpu_per_document(raw, cores):.0f} ms")
    return lines


class PrecomputedBatcher:
    """A Batcher stand-in that answers at once with the model's translations, made on first request."""

    def __init__(self, translator):
        self._translator = translator
        self._done: dict[tuple, object] = {}

    def submit(self, batch: list[list[str]], *, beam_size: int, attention: bool, ticket) -> list[Future]:
        missing = [tokens for tokens in batch if (tuple(tokens), beam_size, attention) not in self._done]
        if missing:
            hypotheses = self._translator.translate(missing, beam_size=beam_size, attention=attention)
            for tokens, hypothesis in zip(missing, hypotheses):
                self._done[(tuple(tokens), beam_size, attention)] = hypothesis
        futures = []
        for tokens in batch:
            future = Future()
            future.set_result(self._done[(tuple(tokens), beam_size, attention)])
            futures.append(future)
        return futures


def cpu_per_document(documents, process) -> float:
    """Milliseconds of this process's CPU per `process(document)`, after one untimed pass (which fills caches)."""
    for document in documents:
        process(document)
    started = time.process_time()
    for document in documents:
        process(document)
    return (time.process_time() - started) / len(documents) * 1000


# -- transformers (in a subprocess) ---------------------------------------------


def transformers_missing() -> str | None:
    """Why the transformers rows cannot be measured here, or None."""
    import importlib.util

    missing = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
    return f"{' and '.join(missing)} not installed (pip install -e '.[dev]')" if missing else None


def measure_transformers(hf_dir: Path | None, model_dir: Path, workloads: list[Workload], beam_size: int) -> list[Row]:
    """MarianMTModel.generate on every workload, in a fresh process so that its peak RSS is its own.

    Without `hf_dir`, the served weights are rebuilt for transformers first
    (alinea.models.to_hf, int8 dequantized), in a process of their own too:
    this one stays a light client.
    """
    with tempfile.TemporaryDirectory(prefix="alinea-hf-") as tmp:
        if hf_dir is None:
            hf_dir = Path(tmp) / "hf"
            in_subprocess(_export_hf, str(model_dir), str(hf_dir))
        rows = in_subprocess(_transformers_worker, str(hf_dir), str(model_dir), workloads, beam_size)
    return [Row(**row) for row in rows]


def _export_hf(model_dir: str, output: str) -> None:
    from alinea.models.to_hf import to_hf
    from alinea.models.train.model import quiet_libraries

    quiet_libraries()
    to_hf(Path(model_dir), Path(output))


def _transformers_worker(hf_dir: str, model_dir: str, workloads: list[Workload], beam_size: int) -> list[dict]:
    import warnings

    import torch
    from transformers import MarianMTModel, MarianTokenizer
    from transformers.utils import logging as transformers_logging

    warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")
    transformers_logging.disable_progress_bar()
    torch.set_num_threads(os.cpu_count() or 1)
    tokenizer = MarianTokenizer.from_pretrained(hf_dir)
    model = MarianMTModel.from_pretrained(hf_dir).eval()
    settings = server_translator_settings(model_dir)
    pieces = TargetPieces(Path(model_dir))

    def translate(sentences: list[str]) -> list[str]:
        # The server's decoding limit per sentence: batches of sentences that share a limit.
        lengths = [len(ids) for ids in tokenizer(sentences).input_ids]  # source pieces, </s> included
        outputs = [""] * len(sentences)
        for limit, positions in settings.by_decoding_limit(lengths).items():
            for start in range(0, len(positions), HF_BATCH_SIZE):
                batch = positions[start : start + HF_BATCH_SIZE]
                inputs = tokenizer([sentences[i] for i in batch], return_tensors="pt", padding=True)
                with torch.inference_mode():
                    # early_stopping=True is CTranslate2's rule (patience 1): stop once beam_size hypotheses
                    # are finished. transformers' default goes on while a longer one could still score higher,
                    # which under length penalty 2 runs most sentences to the limit in repeated text.
                    generated = model.generate(**inputs, num_beams=beam_size, max_new_tokens=limit,
                                               length_penalty=settings.length_penalty, early_stopping=True)
                for i, text in zip(batch, tokenizer.batch_decode(generated, skip_special_tokens=True)):
                    outputs[i] = text
        return outputs

    translate(workloads[0].sentences[0][:2])  # warm-up
    rows = []
    for workload in workloads:
        everything = [s for document in workload.sentences for s in document]
        started = time.perf_counter()
        outputs = translate(everything)
        seconds = time.perf_counter() - started
        tokens = sum(pieces.count(text) for text in outputs)
        latencies = timed_per_document(translate, workload.sentences)
        rows.append(raw_row(workload, "transformers", tokens, seconds, latencies))
    return rows


# -- alinea over gRPC -----------------------------------------------------------


@dataclass
class Server:
    address: str
    local: LocalServer | None = None  # None: a server this script did not start

    def peak_rss_mib(self) -> float | None:
        return vm_hwm_mib(self.local.process.pid) if self.local else None

    def cpu_seconds(self) -> float | None:
        return cpu_seconds(self.local.process.pid) if self.local else None

    def stop(self) -> None:
        if self.local:
            self.local.stop()


def start_server(model_dir: Path) -> Server:
    """alinea-server on a free port serving only `model_dir`, its other settings left at their defaults."""
    try:
        local = start_local_server(["--no-shipped-models", "--model-dir", str(model_dir)])
    except RuntimeError as exc:
        raise SystemExit(f"throughput: {exc}") from None
    return Server(local.address, local)


def measure_alinea(server: Server, manifest, workload: Workload, beam_size: int, concurrency: int,
                   alignment: bool, pieces: TargetPieces, model_output: dict[str, str], window: float) -> Row:
    """`concurrency` clients keeping the server busy with the workload's documents, measured in steady state.

    Client k starts at document k·N/c and goes through the documents in
    turn, round and round, one call at a time. After WARM_UP_SECONDS
    (every client has calls in flight by then), a `window` of seconds is
    measured: the documents that completed inside it, their target tokens
    over the window's length, and their latencies. A finite list of
    documents would instead end with a drain, a second or more with fewer
    than `concurrency` calls in flight, which at c=16 costs a short run a
    third of its throughput and measures the list's length, not the server.
    """
    from alinea.client.client import Options, TranslationClient

    # None: on, the server's default; alignment and entity preservation go on and off together.
    options = Options(beam_size=beam_size, word_alignment=None if alignment else False,
                      entities=None if alignment else "off")
    documents = workload.documents
    completed: list[tuple[float, float, object]] = []  # (finished at, latency, response)
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    stop = threading.Event()
    errors: list[BaseException] = []

    def client_thread(k: int) -> None:
        try:
            with TranslationClient(server.address, timeout=CALL_TIMEOUT) as client:
                client.wait_until_ready(60)
                start.wait()
                i = k * len(documents) // concurrency
                while not stop.is_set() and not errors:
                    called = time.perf_counter()
                    response = client.translate(
                        documents[i % len(documents)], source_language=manifest.source_language,
                        target_language=manifest.target_language, model=manifest.name, options=options,
                    )
                    finished = time.perf_counter()
                    with lock:
                        completed.append((finished, finished - called, response))
                    i += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=client_thread, args=(k,)) for k in range(concurrency)]
    for thread in threads:
        thread.start()
    try:
        start.wait()  # every client connected: the clock starts
    except threading.BrokenBarrierError:
        pass  # a client failed; reported below
    opened = time.perf_counter() + WARM_UP_SECONDS
    while not errors and time.perf_counter() < opened:
        time.sleep(0.05)
    cpu_opened = server.cpu_seconds()
    while not errors and time.perf_counter() < opened + window:
        time.sleep(0.05)
    closed = time.perf_counter()
    cpu_closed = server.cpu_seconds()
    stop.set()
    for thread in threads:
        thread.join()
    failures = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)] or errors
    if failures:
        raise SystemExit(f"throughput: alinea call failed: {failures[0]!r}")
    inside = [(latency, response) for finished, latency, response in completed if opened <= finished < closed]
    if not inside:
        raise SystemExit(f"throughput: no {workload.name} document completed within a {window:g} s window; "
                         "raise --window")
    sentences, tokens = translated_counts([response for _, response in inside], pieces, model_output)
    return Row(workload.name, "alinea", len(inside), sentences, tokens, closed - opened,
               [latency for latency, _ in inside], server.peak_rss_mib(), concurrency, alignment,
               server_cpu_seconds=None if cpu_opened is None else cpu_closed - cpu_opened)


def translated_counts(responses, pieces: TargetPieces, model_output: dict[str, str]) -> tuple[int, int]:
    """Distinct translated sentences per document (as the pipeline translates them) and the model's target tokens.

    A sentence whose entities the server repaired no longer reads as the
    model wrote it: a repair replaces the words the model wrote for an
    entity with the entity's form. Its tokens are those of the model's
    output for that sentence (`model_output`, raw CTranslate2's translation,
    the same model and options), so that repairs count neither for nor
    against the service: the work is the model's either way. A sentence
    missing from `model_output` counts its text without the repaired spans.
    """
    from alinea.v1 import translation_pb2 as pb

    sentences = tokens = 0
    for response in responses:
        seen = set()
        for segment in response.segments:
            if segment.copied or segment.source_text in seen:
                continue
            seen.add(segment.source_text)
            sentences += 1
            text = segment.target_text
            repaired = sorted((e.target_span.start, e.target_span.end) for e in segment.entities
                              if e.status == pb.Entity.REPAIRED)
            if repaired and segment.source_text in model_output:
                text = model_output[segment.source_text]
            else:
                for start, end in reversed(repaired):
                    text = text[:start] + text[end:]
            tokens += pieces.count(text)
    return sentences, tokens


def warm_up(server: Server, manifest, workload: Workload, beam_size: int) -> None:
    """One document with alignment on and off; a clear exit when the server cannot be reached or fails."""
    import grpc

    from alinea.client.client import Options, TranslationClient

    with TranslationClient(server.address, timeout=CALL_TIMEOUT) as client:
        try:
            client.wait_until_ready(60)
            for alignment in (None, False):
                client.translate(workload.documents[0], source_language=manifest.source_language,
                                 target_language=manifest.target_language, model=manifest.name,
                                 options=Options(beam_size=beam_size, word_alignment=alignment,
                                                 entities=None if alignment is None else "off"))
        except grpc.FutureTimeoutError:
            raise SystemExit(f"throughput: no server answers at {server.address}") from None
        except grpc.RpcError as exc:
            raise SystemExit(f"throughput: the server at {server.address} failed: "
                             f"{exc.code().name}: {exc.details()}") from None


# -- report ---------------------------------------------------------------------


def header(args: argparse.Namespace, manifest, model_dir: Path) -> dict:
    import ctranslate2

    from alinea.server.translate import uses_vocabulary_map

    settings = server_translator_settings(model_dir)
    return {
        "machine": f"{os.cpu_count()} cores, {cpu_model()}",
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "model": manifest.name,
        "model_dir": str(model_dir),
        "quantization": manifest.quantization,
        "beam_size": args.beam_size,
        "ctranslate2": ctranslate2.__version__,
        "ctranslate2_settings": asdict(settings),
        "vocabulary_map": uses_vocabulary_map(model_dir, settings),
        "command": shlex.join(sys.orig_argv),
        "runs": args.runs,
        "window": args.window,
    }


def baseline_of(rows: list[Row], workload: str) -> Row:
    return next(r for r in rows if r.workload == workload and r.system == "ctranslate2")


def ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}×"


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| workload | system | docs | sentences | target tok/s | sent/s | p50 s | p95 s | p99 s | peak RSS MiB "
        "| tok/s ÷ raw | p95 ÷ raw |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        base = baseline_of(rows, row.workload)
        rss = "n/a" if row.peak_rss_mib is None else f"{row.peak_rss_mib:.0f}"
        lines.append(
            f"| {row.workload} | {row.label} | {row.documents} | {row.sentences} | {row.tokens_per_second:,.0f} "
            f"| {row.sentences_per_second:.2f} "
            f"| {row.latency(50):.3f} | {row.latency(95):.3f} | {row.latency(99):.3f} "
            f"| {rss} | {ratio(row.ratio_to(base))} "
            f"| {ratio(row.latency_ratio_to(base))} |"
        )
    return lines


def find(rows: list[Row], workload: str, system: str, concurrency: int | None = None,
         alignment: bool | None = None) -> Row | None:
    for row in rows:
        if (row.workload, row.system) == (workload, system) and (
            system != "alinea" or (row.concurrency, row.word_alignment) == (concurrency, alignment)
        ):
            return row
    return None


def check_targets(rows: list[Row], concurrencies: list[int], server: Server, hf_reason: str | None) -> list[Target]:
    top = TARGET_CONCURRENCY if TARGET_CONCURRENCY in concurrencies else max(concurrencies)
    note = "" if top == TARGET_CONCURRENCY else f" (c={TARGET_CONCURRENCY} not measured: c={top} instead)"
    targets = []
    for workload in dict.fromkeys(r.workload for r in rows):
        raw = baseline_of(rows, workload)
        for alignment, minimum in ((True, MIN_RATIO_ALIGNMENT_ON), (False, MIN_RATIO_ALIGNMENT_OFF)):
            row = find(rows, workload, "alinea", top, alignment)
            got = row.ratio_to(raw)
            mode = "on" if alignment else "off"
            targets.append(Target(
                f"{workload}: alinea c={top} align+entities {mode} ≥ {minimum} × raw CTranslate2 tok/s{note}",
                got >= minimum,
                f"{got:.3f}×, the median over runs of each run's tok/s over raw passes just before and after it "
                f"(alinea {row.tokens_per_second:,.0f}, raw {raw.tokens_per_second:,.0f} tok/s)"
                if row.paired_ratio is not None else
                f"{row.tokens_per_second:,.0f} / {raw.tokens_per_second:,.0f} = {got:.3f}×",
            ))
        row, hf = find(rows, workload, "alinea", top, True), find(rows, workload, "transformers")
        description = (f"{workload}: alinea c={top} align+entities on ≥ {MIN_RATIO_TO_TRANSFORMERS} × transformers "
                       f"tok/s{note}")
        if hf is None:
            targets.append(Target(description, None, hf_reason or "transformers not measured"))
        else:
            got = row.tokens_per_second / hf.tokens_per_second
            targets.append(Target(description, got >= MIN_RATIO_TO_TRANSFORMERS,
                                  f"{row.tokens_per_second:,.0f} / {hf.tokens_per_second:,.0f} = {got:.2f}×"))
    raw, row = baseline_of(rows, LATENCY_WORKLOAD), find(rows, LATENCY_WORKLOAD, "alinea", 1, True)
    description = (f"{LATENCY_WORKLOAD}: alinea c=1 align+entities on p95 latency ≤ {MAX_LATENCY_RATIO} × "
                   "raw CTranslate2 p95")
    if row is None:
        targets.append(Target(description, None, "c=1 not measured"))
    else:
        got = row.latency_ratio_to(raw)
        raw_p95 = row.raw_latency_p95(raw)
        around = ", raw's in passes just before and after each run" if row.paired_latencies else ""
        targets.append(Target(description, got <= MAX_LATENCY_RATIO,
                              f"{row.latency(95):.3f}s / {raw_p95:.3f}s = {got:.2f}×{around}"))
    peak = server.peak_rss_mib()
    description = f"server peak RSS ≤ {MAX_SERVER_RSS_MIB:.0f} MiB (1.5 GiB)"
    if peak is None:
        targets.append(Target(description, None, "server not started by this script: its memory is not visible"))
    else:
        targets.append(Target(description, peak <= MAX_SERVER_RSS_MIB, f"VmHWM {peak:.0f} MiB"))
    return targets


def report(info: dict, rows: list[Row], targets: list[Target], notes: list[str]) -> str:
    lines = [
        f"machine: {info['machine']} | model: {info['model']} ({info['quantization']}) "
        f"| beam size: {info['beam_size']} | CTranslate2 {info['ctranslate2']}",
        f"command: {info['command']}",
        "",
        *table(rows),
        "",
        *(f"{t.verdict} {t.description}: {t.detail}" for t in targets),
        "",
        *(f"- {n}" for n in notes),
    ]
    return "\n".join(lines)


def notes(info: dict, server: Server, hf_reason: str | None) -> list[str]:
    s = info["ctranslate2_settings"]
    vocabulary = "the model's vocabulary map" if info.get("vocabulary_map") else "the full vocabulary"
    threads = "all cores" if s["intra_threads"] == 0 else s["intra_threads"]
    found = [
        ENTITY_NOTE,
        f"runs: CTranslate2 raw and alinea {info['runs']} each, throughput = the median run, latency percentiles "
        "over the documents of every run; transformers once",
        "tok/s ÷ raw: for alinea, the median over its runs of each run's tok/s over raw CTranslate2's in "
        f"passes over the workload ({RAW_PASS_SECONDS:g} s at least) just before and just after the run, so that "
        "both meet the machine in the same state; for transformers, over the CTranslate2 raw row",
        f"alinea: steady state; each run measures the {info['window']:g} s after a {WARM_UP_SECONDS:g} s warm-up, "
        "with every client cycling through the workload's documents; docs and sentences = those completed in "
        "the window",
        f"CTranslate2 raw: compute type {s['compute_type']}, intra threads {threads}, inter threads "
        f"{s['inter_threads']}, batches of {s['max_batch_tokens']} tokens, decoding limit "
        f"{s['length_ratio']:g}n + {s['length_margin']} pieces for n source pieces (at most {s['max_decoding_length']}), "
        f"length penalty {s['length_penalty']:g} (the model's), "
        f"{vocabulary}, no attention; "
        "throughput = all sentences in one translate_batch call per decoding limit, "
        "latency = one call per document, one document after another",
        "latency: alinea = one TranslateDocument call at that concurrency; CTranslate2 raw and transformers = "
        "one call translating one document's sentences; p95 ÷ raw at c=1 = over the p95 of raw CTranslate2's "
        "latencies in passes over the documents just before and after each run, elsewhere over the raw row's",
        "target tokens: each translation re-encoded with the model's target.spm, the same count for every system",
        "peak RSS: alinea = VmHWM of the server process after that run (cumulative over the runs before it); "
        "CTranslate2 raw and transformers = VmHWM of the fresh subprocess that loaded the model and ran the "
        "workload (cumulative over its workloads)",
    ]
    if server.local is None:
        found.append(f"alinea: the running server at {server.address}; its settings are its own")
    if hf_reason:
        found.append(f"transformers: skipped, {hf_reason}")
    else:
        found.append(f"transformers: batches of {HF_BATCH_SIZE} sentences that share a decoding limit, num_beams = "
                     f"beam size, max_new_tokens = that limit, length_penalty {s['length_penalty']:g}, the full "
                     f"vocabulary, torch threads {info['cores']}")
    return found


# -- main -------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="alinea model directory (default: the shipped default model)")
    parser.add_argument("--hf-model", type=Path, help="Hugging Face Marian directory of the same weights for the "
                        "transformers rows (default: rebuilt from the model directory by alinea.models.to_hf)")
    parser.add_argument("--no-transformers", action="store_true", help="skip the transformers rows")
    parser.add_argument("--sentences", type=int, default=500, help="FLORES dev lines to translate (default 500)")
    parser.add_argument("--repeat", type=int, default=20,
                        help="copies of the seed article, one document each (default 20)")
    parser.add_argument("--runs", type=int, default=5,
                        help="runs of each CTranslate2 and alinea measurement; the median counts (default 5)")
    parser.add_argument("--beam-size", type=int, default=4)
    parser.add_argument("--server", help="address of a running server (default: start one on --model-dir)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON")
    parser.add_argument("--concurrency", default="1,4,16", help="client threads, comma-separated (default 1,4,16)")
    parser.add_argument("--window", type=float, default=15.0,
                        help="seconds of each alinea run that are measured, after a warm-up (default 15)")
    args = parser.parse_args(argv)
    try:
        args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    except ValueError:
        parser.error(f"--concurrency: comma-separated numbers, not {args.concurrency!r}")
    if not args.concurrency or min(args.concurrency) < 1:
        parser.error("--concurrency needs at least one number, each ≥ 1")
    if min(args.sentences, args.repeat, args.runs) < 1 or not 1 <= args.beam_size <= 16:
        parser.error("--sentences, --repeat and --runs must be ≥ 1, --beam-size 1 to 16")
    if args.window <= 0:
        parser.error("--window must be positive")
    if args.hf_model and args.no_transformers:
        parser.error("--hf-model and --no-transformers exclude each other")
    if args.hf_model and not (args.hf_model / "config.json").is_file():
        parser.error(f"--hf-model {args.hf_model}: not a Hugging Face model directory (no config.json)")
    return args


def main(argv: list[str] | None = None) -> int:
    from alinea.models.manifest import Manifest, missing_files
    from alinea.server.translate import available_cores

    args = parse_args(argv)
    model_dir = (args.model_dir or default_model_dir()).resolve()
    if missing := missing_files(model_dir):
        raise SystemExit(f"throughput: {model_dir} is not a complete model directory, missing {', '.join(missing)}")
    manifest = Manifest.read(model_dir)
    workloads = build_workloads(model_dir, args.sentences, args.repeat)
    info = header(args, manifest, model_dir)
    hf_reason = "--no-transformers" if args.no_transformers else transformers_missing()

    print(f"CTranslate2 raw on {', '.join(f'{w.name} ({w.sentence_count} sentences)' for w in workloads)}…",
          file=sys.stderr)
    raw = RawCTranslate2(model_dir, workloads, args.beam_size)
    server = None
    try:
        rows, model_output = [], {}
        raw_passes: dict[str, list[float]] = {}  # each workload's throughput passes, in order (pairing_noise)
        for workload in workloads:
            row, model_output[workload.name] = raw.measure(workload.name, args.runs)
            rows.append(row)
        attention = {w.name: raw.attention_cost(w.name, ATTENTION_PAIRS) for w in workloads}
        own_cpu = overheads(model_dir, workloads, rows, available_cores())
        if hf_reason is None:
            print("transformers…", file=sys.stderr)
            rows += measure_transformers(args.hf_model, model_dir, workloads, args.beam_size)

        server = Server(args.server) if args.server else start_server(model_dir)
        pieces = TargetPieces(model_dir)
        for workload in workloads:
            warm_up(server, manifest, workload, args.beam_size)
        for workload in workloads:
            base = baseline_of(rows, workload.name)
            passes = raw_passes.setdefault(workload.name, [])
            for concurrency in args.concurrency:
                print(f"alinea {workload.name} c={concurrency}, align+entities on and off in turn…", file=sys.stderr)
                runs: dict[bool, list[Row]] = {True: [], False: []}
                # At c=1 raw's latencies are measured around the runs as well: the same drift would
                # otherwise go into the latency ratio.
                paired_latency = concurrency == 1
                raw_latencies = raw.latency_pass(workload.name) if paired_latency else []
                passes.append(raw.throughput_pass(workload.name))
                # On and off in turn, `runs` of each: run one mode's runs after the other's, and a change in
                # the machine over those minutes falls on one mode only (raw CTranslate2 was 13-17% faster
                # around the flores runs with both on than around those with both off, run that way, while
                # alinea's own tok/s at c=16 was within 1% in both).
                for alignment in [True, False] * args.runs:
                    run = measure_alinea(server, manifest, workload, args.beam_size, concurrency, alignment,
                                         pieces, model_output[workload.name], args.window)
                    if paired_latency:
                        raw_latencies += raw.latency_pass(workload.name)
                    passes.append(raw.throughput_pass(workload.name))
                    # Raw CTranslate2's rate around the run, from its passes just before and just after:
                    # a steady drift of the machine's speed during the run cancels out of the ratio.
                    raw_tokens_per_second = 2 * base.target_tokens / (passes[-2] + passes[-1])
                    runs[alignment].append(replace(run, paired_ratio=run.tokens_per_second / raw_tokens_per_second))
                for alignment in (True, False):
                    rows.append(replace(median_run(runs[alignment]), paired_latencies=raw_latencies))
        targets = check_targets(rows, args.concurrency, server, hf_reason)
    finally:
        raw.close()
        if server is not None:
            server.stop()

    order = {"ctranslate2": 0, "alinea": 1, "transformers": 2}
    # alinea's rows with both on first, then with both off, each by concurrency.
    rows.sort(key=lambda r: ([w.name for w in workloads].index(r.workload), order[r.system],
                             r.word_alignment is False, r.concurrency or 0))
    found_notes = (notes(info, server, hf_reason) + attention_cost(attention) + own_cpu
                   + server_cpu(rows, available_cores()) + pairing_noise(raw_passes))
    print(report(info, rows, targets, found_notes), flush=True)
    if args.json:
        data = {
            "header": info,
            "rows": [r.to_json(baseline_of(rows, r.workload)) for r in rows],
            "targets": [{"verdict": t.verdict, **asdict(t)} for t in targets],
            "notes": found_notes,
        }
        args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
