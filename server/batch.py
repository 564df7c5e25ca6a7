"""`alinea batch`: translate a corpus on Ray, resumably, with the server's own pipeline.

The driver (this process) reads the inputs, cuts them into shards of
`shard_size` documents in input order, and hands shards to Ray actors. Each
actor loads the model once and runs `alinea.server.pipeline.Pipeline` in
process, so whatever the pipeline does (segmentation, entities, translation,
alignment) comes along unchanged, and each document is converted to the
same JSONL lines as `alinea translate --format jsonl` writes
(`service.to_response`, then `formats.write_jsonl`).

Why Ray core actors rather than Ray Data: resumability is per shard and
the unit of output is a file per shard. Actors return their results to the
driver, which writes every shard's output to a temporary file and renames
it into place, so:

* the cluster needs no shared file system: only the driver touches files;
* a shard whose output file exists is finished; a restarted run skips it
  and never writes a document twice;
* the final output is the shard files concatenated in input order, written
  once every shard is done (and itself renamed into place).

A document that cannot be read or translated becomes a line in the errors
file (document id and reason) and never stops the run. A worker that dies
mid-shard is replaced; its shard is retried once, then document by
document, so one document that kills its worker costs only itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# Inputs with these suffixes hold one JSON object per line.
JSONL_SUFFIXES = (".jsonl", ".ndjson")
# Documents a worker keeps queued at once, so that its batcher fills
# CTranslate2 batches from several documents.
DOCUMENT_WINDOW = 16
# Attempts at a whole shard before its documents are tried one by one.
SHARD_ATTEMPTS = 2
MANIFEST = "manifest.json"


class BatchError(Exception):
    """A batch that cannot run as asked; the message says what to change."""


# -- configuration ---------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """Which model the workers load, how they run it, and the request options; picklable for Ray."""

    model_dirs: tuple[str, ...] = ()
    shipped_models: bool = True
    source_language: str = "fr"
    target_language: str = "en"
    model: str = ""
    beam_size: int | None = None  # None: the server's default
    word_alignment: bool = True
    entities: str | None = None  # preserve, report or off; None: the server's default
    glossary: tuple[tuple[str, str], ...] = ()
    threads: int = 1  # CTranslate2 threads per worker
    # Documents queued at once per worker. 1: each document is translated on
    # its own, so its output is byte for byte what one TranslateDocument call
    # at a time returns; more fill batches better, but CTranslate2's output
    # for a sentence (its attention above all) varies slightly with the
    # sentences it is batched with.
    window: int = DOCUMENT_WINDOW
    max_batch_tokens: int = 2048
    max_request_chars: int = 100_000
    max_request_sentences: int = 5_000

    def server_config(self):
        """The ServerConfig a server with these settings would run with (limits, beam size, threads)."""
        from alinea.server.config import ServerConfig

        return ServerConfig(
            model_dirs=tuple(Path(p) for p in self.model_dirs), shipped_models=self.shipped_models,
            intra_threads=self.threads, max_request_chars=self.max_request_chars,
            max_request_sentences=self.max_request_sentences, max_batch_tokens=self.max_batch_tokens,
            # Room for a window of the largest documents: a worker never refuses its own work as "busy".
            max_queued_sentences=(self.window + 2) * self.max_request_sentences,
        )


@dataclass(frozen=True)
class BatchConfig:
    inputs: tuple[Path, ...]
    output: Path
    spec: ModelSpec = ModelSpec()
    # "file": each text file is one document; "line": each non-blank line is one.
    # JSONL inputs always hold one document per line.
    unit: str = "file"
    text_field: str = "text"
    shard_size: int = 64
    tmx: Path | None = None
    errors: Path | None = None  # default: OUTPUT with .errors.jsonl
    work_dir: Path | None = None  # default: OUTPUT.parts beside the output
    ray_address: str | None = None
    num_cpus: int | None = None  # for a Ray instance started here
    workers: int | None = None  # default: the cluster's CPUs / spec.threads
    overwrite: bool = False
    keep_parts: bool = False
    progress: bool = True

    @property
    def errors_path(self) -> Path:
        if self.errors is not None:
            return self.errors
        name = self.output.name[: -len(".jsonl")] if self.output.name.endswith(".jsonl") else self.output.name
        return self.output.with_name(name + ".errors.jsonl")

    @property
    def parts_dir(self) -> Path:
        return self.work_dir if self.work_dir is not None else self.output.with_name(self.output.name + ".parts")


# -- reading the inputs -----------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """One input document; `error` instead of `text` when it could not be read."""

    id: str
    text: str | None = None
    error: str | None = None


def input_files(inputs: Iterable[Path]) -> list[Path]:
    """Files to read, in a fixed order: each file as given, each folder's files sorted (hidden ones skipped)."""
    files: list[Path] = []
    for path in inputs:
        path = Path(path)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*")
                                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)))
        elif path.is_file():
            files.append(path)
        else:
            raise BatchError(f"input {path} does not exist")
    if not files:
        raise BatchError("no input files: pass JSONL or text files, or folders of them")
    return files


def _is_jsonl(path: Path) -> bool:
    return path.suffix.lower() in JSONL_SUFFIXES


def read_documents(files: Iterable[Path], unit: str = "file", text_field: str = "text") -> Iterator[Document]:
    """Every document of the inputs in order; unreadable ones come with `error` set, never raised."""
    for path in files:
        if _is_jsonl(path) or unit == "line":
            yield from _read_lines(path, text_field)
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            yield Document(str(path), error=f"cannot read: {exc.strerror or exc}")
            continue
        try:
            yield Document(str(path), text=data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            yield Document(str(path), error=f"not UTF-8: {exc}")


def _read_lines(path: Path, text_field: str) -> Iterator[Document]:
    """One document per non-blank line: a JSON object (JSONL) or the line's text."""
    jsonl = _is_jsonl(path)
    try:
        stream = open(path, "rb")
    except OSError as exc:
        yield Document(str(path), error=f"cannot read: {exc.strerror or exc}")
        return
    with stream:
        for number, raw in enumerate(stream, 1):
            fallback_id = f"{path}:{number}"
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                yield Document(fallback_id, error=f"line {number} is not UTF-8: {exc}")
                continue
            if not line.strip():
                continue
            if not jsonl:
                yield Document(fallback_id, text=line)
                continue
            yield _json_document(line, fallback_id, number, text_field)


_JSON_KINDS = {bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object",
               type(None): "null"}


def _json_document(line: str, fallback_id: str, number: int, text_field: str) -> Document:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return Document(fallback_id, error=f"line {number} is not valid JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(record, dict):
        return Document(fallback_id, error=f"line {number} is a JSON {type(record).__name__}, not an object")
    raw_id = record.get("id", record.get("document_id"))
    doc_id = str(raw_id) if isinstance(raw_id, (str, int)) and str(raw_id) else fallback_id
    text = record.get(text_field)
    if not isinstance(text, str):
        found = "missing" if text_field not in record else _JSON_KINDS.get(type(text), "not a string")
        return Document(doc_id, error=f"line {number}: field {text_field!r} must be a string, is {found}")
    return Document(doc_id, text=text)


def count_documents(files: Iterable[Path], unit: str = "file") -> int:
    """How many documents read_documents will yield (for the progress bar), without parsing them."""
    total = 0
    for path in files:
        if _is_jsonl(path) or unit == "line":
            try:
                with open(path, "rb") as stream:
                    total += sum(1 for raw in stream if raw.strip())
            except OSError:
                total += 1  # read_documents reports it as one error
        else:
            total += 1
    return total


@dataclass(frozen=True)
class Shard:
    index: int
    documents: tuple[Document, ...]


def shards(documents: Iterable[Document], size: int) -> Iterator[Shard]:
    """Consecutive runs of `size` documents: the same inputs always give the same shards."""
    chunk: list[Document] = []
    index = 0
    for document in documents:
        chunk.append(document)
        if len(chunk) == size:
            yield Shard(index, tuple(chunk))
            chunk, index = [], index + 1
    if chunk:
        yield Shard(index, tuple(chunk))


# -- the workers --------------------------------------------------------------------


@dataclass
class Outcome:
    """One document's result: its JSONL lines and TMX units, or the reason it failed."""

    position: int
    document_id: str
    jsonl: str = ""
    tmx: str = ""
    error: str | None = None
    segments: int = 0
    characters: int = 0


class ShardTranslator:
    """A worker: loads the model once, then translates documents exactly as a server would.

    Each document becomes the TranslateDocument request `alinea translate`
    would send, and goes through the service's own checks (limits, options,
    model choice) and pipeline in process, without gRPC; a request the
    server would refuse is reported with the same status name and message.
    Runs as a Ray actor (`ray.remote(ShardTranslator)`), or directly in
    tests. A model that cannot be loaded is reported by `describe()`, not
    raised, so the driver can say why without a worker crash in between.
    """

    def __init__(self, spec: ModelSpec, tmx: bool = False):
        self.spec = spec
        self.tmx = tmx
        self.error: str | None = None
        self.service = None
        self.model = None
        try:
            self._load()
        except Exception as exc:  # noqa: BLE001 - reported through describe()
            self.error = getattr(exc, "message", None) or str(exc) or type(exc).__name__

    def _load(self) -> None:
        from alinea.server.registry import ModelRegistry, shipped_model_root
        from alinea.server.service import TranslationService
        from alinea.server.translate import TranslatorSettings

        config = self.spec.server_config()
        roots = ([shipped_model_root()] if config.shipped_models else []) + list(config.model_dirs)
        registry = ModelRegistry.load(roots, TranslatorSettings(inter_threads=1, intra_threads=config.intra_threads))
        self.service = TranslationService(registry, config)
        pipeline, _ = self.service._plan(self.request(Document("-", text="Bonjour.")))
        self.model = pipeline.model.manifest

    def request(self, document: Document):
        """The TranslateDocument request for one document, as `alinea translate` builds it."""
        from alinea.client.client import Options, TranslationClient

        spec = self.spec
        options = Options(beam_size=spec.beam_size, word_alignment=None if spec.word_alignment else False,
                          entities=spec.entities, glossary=dict(spec.glossary) or None)
        return TranslationClient.request(document.text or "", source_language=spec.source_language,
                                         target_language=spec.target_language, model=spec.model, options=options,
                                         document_id=document.id)

    def describe(self) -> dict:
        """The model's name and pair and the worker's peak memory, or {"error": why it could not be loaded}."""
        import resource

        if self.error is not None:
            return {"error": self.error}
        return {"model": self.model.name, "source_language": self.model.source_language,
                "target_language": self.model.target_language, "test_only": self.model.test_only,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}

    def translate(self, documents: list[tuple[int, Document]]) -> list[Outcome]:
        """Outcomes of (position, document) pairs, in order; a failure affects only its own document.

        Up to `spec.window` documents are queued at once, so the batcher
        fills its batches from several documents.
        """
        if self.error is not None:
            return [Outcome(p, d.id, error=f"model not loaded: {self.error}") for p, d in documents]
        outcomes: list[Outcome] = []
        window: list[tuple[int, Document, object]] = []
        for position, document in documents:
            while len(window) >= max(1, self.spec.window):
                outcomes.append(self._finish(*window.pop(0)))
            window.append((position, document, self._start(document)))
        outcomes.extend(self._finish(*item) for item in window)
        return outcomes

    def _start(self, document: Document) -> object:
        """The document queued for translation (a PendingDocument), or the reason it cannot be."""
        from alinea.server.service import RequestError, _translation_errors

        if document.error is not None:
            return document.error
        try:
            pipeline, options = self.service._plan(self.request(document))
            with _translation_errors():
                return pipeline.start(document.text, options)
        except RequestError as exc:
            return f"{exc.code.name}: {exc.message}"
        except Exception as exc:  # noqa: BLE001 - this document only
            return f"{type(exc).__name__}: {exc}"

    def _finish(self, position: int, document: Document, pending: object) -> Outcome:
        from alinea.client.formats import tmx_units, write_jsonl
        from alinea.server.service import RequestError, _translation_errors, to_response

        if isinstance(pending, str):
            return Outcome(position, document.id, error=pending)
        try:
            with _translation_errors():
                response = to_response(document.id, pending.result())
            out = io.StringIO()
            write_jsonl(response, out)
            tmx = tmx_units(response, document_id=document.id) if self.tmx else ""
        except RequestError as exc:
            return Outcome(position, document.id, error=f"{exc.code.name}: {exc.message}")
        except Exception as exc:  # noqa: BLE001 - this document only
            return Outcome(position, document.id, error=f"{type(exc).__name__}: {exc}")
        return Outcome(position, document.id, out.getvalue(), tmx, segments=len(response.segments),
                       characters=len(document.text or ""))


# -- the shard files -----------------------------------------------------------------


def _atomic_write(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, flush it to disk, then rename it into place."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


@dataclass
class Parts:
    """The work directory: a manifest, and per finished shard its output, errors and TMX units.

    A shard is finished when its `.jsonl` exists: it is renamed into place
    last, after its errors and TMX units.
    """

    root: Path

    def jsonl(self, index: int) -> Path:
        return self.root / f"{index:08d}.jsonl"

    def errors(self, index: int) -> Path:
        return self.root / f"{index:08d}.errors.jsonl"

    def tmx(self, index: int) -> Path:
        return self.root / f"{index:08d}.tmx-units"

    def done(self, index: int) -> bool:
        return self.jsonl(index).is_file()

    def commit(self, index: int, outcomes: list[Outcome], tmx: bool) -> None:
        errors = "".join(json.dumps({"document_id": o.document_id, "reason": o.error}, ensure_ascii=False) + "\n"
                         for o in outcomes if o.error is not None)
        _atomic_write(self.errors(index), errors)
        if tmx:
            _atomic_write(self.tmx(index), "".join(o.tmx for o in outcomes))
        _atomic_write(self.jsonl(index), "".join(o.jsonl for o in outcomes))


def _fingerprint(config: BatchConfig, files: list[Path]) -> dict:
    """What a resumed run must share with the run it continues: the inputs and every setting that changes output."""
    listing = [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    fingerprint = {
        "inputs": hashlib.sha256(json.dumps(listing).encode()).hexdigest(),
        "files": len(files),
        "unit": config.unit,
        "text_field": config.text_field,
        "shard_size": config.shard_size,
        "tmx": config.tmx is not None,
        "model": {k: v for k, v in asdict(config.spec).items() if k != "threads"},
    }
    return json.loads(json.dumps(fingerprint))  # as it reads back from the manifest


def _open_parts(config: BatchConfig, files: list[Path]) -> Parts:
    """The work directory, new or resumed; BatchError when it belongs to a different run."""
    parts = Parts(config.parts_dir)
    fingerprint = _fingerprint(config, files)
    manifest = parts.root / MANIFEST
    if manifest.is_file():
        stored = json.loads(manifest.read_text(encoding="utf-8"))
        changed = sorted(k for k in set(stored) | set(fingerprint) if stored.get(k) != fingerprint.get(k))
        if changed:
            raise BatchError(
                f"{parts.root} holds an unfinished run with other {', '.join(changed)}; "
                f"delete it to start over, or run again with the same inputs and settings to resume it"
            )
        return parts
    if config.output.exists() and not config.overwrite:
        raise BatchError(f"{config.output} exists; pass --overwrite to replace it")
    parts.root.mkdir(parents=True, exist_ok=True)
    _atomic_write(manifest, json.dumps(fingerprint, indent=2) + "\n")
    return parts


# -- the driver ----------------------------------------------------------------------


@dataclass
class Summary:
    documents: int = 0  # translated, this run and earlier ones
    errors: int = 0  # reported in the errors file, this run and earlier ones
    segments: int = 0  # translated this run
    characters: int = 0  # of the documents translated this run
    shards: int = 0
    shards_skipped: int = 0  # finished by an earlier run
    seconds: float = 0.0  # translating, this run (Ray start-up and model loading excluded)
    workers: int = 0
    model: str = ""
    cluster: str = ""  # where it ran
    worker_rss_mib: float = 0.0  # peak resident memory of a worker, measured after loading and at the end
    documents_translated_now: int = 0
    outputs: list[str] = field(default_factory=list)

    def line(self) -> str:
        rate = self.documents_translated_now / self.seconds if self.seconds else 0.0
        return (f"{self.documents:,} documents translated, {self.errors:,} errors, {self.shards:,} shards "
                f"({self.shards_skipped:,} done before); this run: {self.documents_translated_now:,} documents, "
                f"{self.segments:,} segments in {self.seconds:.1f}s on {self.workers} workers ({rate:.2f} documents/s) "
                f"on {self.cluster}")


@dataclass
class _Task:
    """Documents of one shard on their way to a worker."""

    shard: int
    documents: list[tuple[int, Document]]
    attempt: int = 1


@dataclass
class _Pending:
    """A shard being translated: outcomes by position until all of its documents are back."""

    size: int
    outcomes: dict[int, Outcome] = field(default_factory=dict)


def run(config: BatchConfig) -> Summary:
    """Translate the inputs into config.output (and the errors file, and TMX on request); resumes an unfinished run."""
    import ray

    if config.unit not in ("file", "line"):
        raise BatchError(f"unit must be 'file' or 'line', not {config.unit!r}")
    if config.shard_size < 1:
        raise BatchError("shard size must be at least 1")
    files = input_files(config.inputs)
    parts = _open_parts(config, files)
    total = count_documents(files, config.unit)

    started_ray = False
    if not ray.is_initialized():
        ray.init(address=config.ray_address, num_cpus=None if config.ray_address else config.num_cpus,
                 include_dashboard=False, logging_level=logging.WARNING)
        started_ray = True
    address = ray.get_runtime_context().gcs_address
    local = started_ray and not (config.ray_address or os.environ.get("RAY_ADDRESS"))
    cluster = f"a local Ray instance ({address})" if local else f"the Ray cluster at {address}"
    try:
        summary = _drive(config, files, parts, total)
        summary.cluster = cluster
        return summary
    finally:
        if started_ray:
            ray.shutdown()


def _drive(config: BatchConfig, files: list[Path], parts: Parts, total: int) -> Summary:
    import ray

    spec = config.spec
    cpus = int(ray.cluster_resources().get("CPU", 1))
    workers = config.workers or max(1, cpus // max(1, spec.threads))
    worker_class = ray.remote(num_cpus=max(1, spec.threads))(ShardTranslator)
    tmx = config.tmx is not None

    def new_worker():
        return worker_class.remote(spec, tmx)

    pool = [new_worker() for _ in range(workers)]
    described = ray.get([w.describe.remote() for w in pool])
    if "error" in described[0]:
        raise BatchError(f"cannot load the model: {described[0]['error']}")
    model = described[0]
    if model.get("test_only"):
        print(f"alinea batch: warning: {model['model']} is a random-weight test model; its translations are noise",
              file=sys.stderr)

    summary = Summary(workers=workers, model=model["model"])
    summary.worker_rss_mib = max(d.get("peak_rss_mib", 0.0) for d in described)
    bar = _progress_bar(total, config.progress)
    shard_iter = shards(read_documents(files, config.unit, config.text_field), config.shard_size)
    queue: list[_Task] = []  # retries and split shards go before new shards
    pending: dict[int, _Pending] = {}
    in_flight: dict[object, tuple[object, _Task]] = {}
    idle = list(pool)
    exhausted = False
    started = time.monotonic()

    def next_task() -> _Task | None:
        nonlocal exhausted
        if queue:
            return queue.pop(0)
        while not exhausted:
            shard = next(shard_iter, None)
            if shard is None:
                exhausted = True
                break
            summary.shards += 1
            if parts.done(shard.index):
                summary.shards_skipped += 1
                _count_done(parts, shard.index, len(shard.documents), summary)
                bar.update(len(shard.documents))
                continue
            pending[shard.index] = _Pending(len(shard.documents))
            return _Task(shard.index, list(enumerate(shard.documents)))
        return None

    while True:
        while idle:
            task = next_task()
            if task is None:
                break
            worker = idle.pop()
            in_flight[worker.translate.remote(task.documents)] = (worker, task)
        if not in_flight:
            break
        (ref,), _ = ray.wait(list(in_flight), num_returns=1)
        worker, task = in_flight.pop(ref)
        try:
            outcomes = ray.get(ref)
        except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as exc:
            outcomes = _after_failure(task, exc, queue)
            worker = new_worker()  # the old one is dead, or in an unknown state
        idle.append(worker)
        if not outcomes:
            continue
        shard = pending[task.shard]
        for outcome in outcomes:
            shard.outcomes[outcome.position] = outcome
        if len(shard.outcomes) == shard.size:
            ordered = [shard.outcomes[p] for p in range(shard.size)]
            parts.commit(task.shard, ordered, tmx)
            del pending[task.shard]
            for o in ordered:
                if o.error is None:
                    summary.documents += 1
                    summary.documents_translated_now += 1
                    summary.segments += o.segments
                    summary.characters += o.characters
                else:
                    summary.errors += 1
            bar.update(shard.size)
    summary.seconds = time.monotonic() - started
    bar.close()
    final = ray.get([w.describe.remote() for w in idle])
    summary.worker_rss_mib = max([summary.worker_rss_mib, *(d.get("peak_rss_mib", 0.0) for d in final)])
    for worker in idle:  # every live worker is idle once nothing is in flight
        ray.kill(worker)
    _assemble(config, parts, summary, model)
    return summary


def _after_failure(task: _Task, exc: Exception, queue: list[_Task]) -> list[Outcome]:
    """A worker died (or failed outside any document): retry, split the shard, or give up on one document."""
    reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    log.warning("worker failed on shard %d (attempt %d, %d documents): %s",
                task.shard, task.attempt, len(task.documents), reason)
    if task.attempt < SHARD_ATTEMPTS:
        queue.insert(0, _Task(task.shard, task.documents, task.attempt + 1))
        return []
    if len(task.documents) > 1:
        queue[:0] = [_Task(task.shard, [item]) for item in task.documents]
        return []
    (position, document), = task.documents
    return [Outcome(position, document.id,
                    error=f"the worker translating this document failed {task.attempt} times: {reason}")]


def _count_done(parts: Parts, index: int, size: int, summary: Summary) -> None:
    """Count a shard finished by an earlier run into the totals."""
    with open(parts.errors(index), encoding="utf-8") as lines:
        errors = sum(1 for line in lines if line.strip())
    summary.errors += errors
    summary.documents += size - errors


def _assemble(config: BatchConfig, parts: Parts, summary: Summary, model: dict) -> None:
    """Concatenate the shard files in order into the outputs, each renamed into place; then drop the parts."""
    indices = range(summary.shards)
    _concatenate([parts.errors(i) for i in indices], config.errors_path)
    summary.outputs.append(str(config.errors_path))
    if config.tmx is not None:
        from alinea.client.formats import TMX_FOOTER, tmx_header

        _concatenate([parts.tmx(i) for i in indices], config.tmx,
                     head=tmx_header(model["source_language"], model["target_language"], model["model"]),
                     tail=TMX_FOOTER)
        summary.outputs.append(str(config.tmx))
    _concatenate([parts.jsonl(i) for i in indices], config.output)
    summary.outputs.insert(0, str(config.output))
    if not config.keep_parts:
        for child in parts.root.iterdir():
            child.unlink()
        parts.root.rmdir()


def _concatenate(sources: list[Path], target: Path, head: str = "", tail: str = "") -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(head)
        for source in sources:
            with open(source, encoding="utf-8") as part:
                while chunk := part.read(1 << 20):
                    out.write(chunk)
        out.write(tail)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, target)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, enabled: bool):
    """Documents done out of all, on stderr (tqdm comes with alinea[server])."""
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, unit="doc", file=sys.stderr, smoothing=0.1)
