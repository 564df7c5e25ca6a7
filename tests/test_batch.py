"""`alinea batch` on a local Ray instance against a single server on the same documents.

The corpus: the seed article, 200 documents of two FLORES-200 dev
sentences, and deliberately broken inputs (invalid JSON, no text, a number
as text, an empty text, a text over the size limit, a file that is not
UTF-8). The shipped model translates (the random test model decodes to the
length limit and would take minutes), with beam size 1 (for speed), and
each document on its own (--window 1), as the server translates one
TranslateDocument call at a time: CTranslate2's output for a sentence
varies slightly with the sentences it shares a batch with (its attention,
so the word alignments, above all), so byte-for-byte equality needs the
same batches on both sides. One Ray instance serves the module;
the runs that get killed are separate driver processes connected to it
with --ray-address, and one more run starts its own local instance.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import grpc
import pytest

ray = pytest.importorskip("ray")

from alinea.client.cli import main  # noqa: E402
from alinea.client.client import Options, TranslationClient  # noqa: E402
from alinea.client.formats import write_jsonl  # noqa: E402
from alinea.server.launch import start_local_server  # noqa: E402

from conftest import REPO, SEED_FR  # noqa: E402

FLORES = REPO / "tests" / "quality" / "flores200-dev" / "flores200-dev.fr"
MAX_CHARS = 20_000
SHARD_SIZE = 8
BEAM = Options(beam_size=1)


@dataclass
class Corpus:
    inputs: list[Path]
    good: list[tuple[str, str]]  # (document id, text) in input order
    broken: dict[str, str]  # document id -> what is wrong with it


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("corpus")
    lines = FLORES.read_text(encoding="utf-8").splitlines()
    good = [(f"flores-{i:03d}", " ".join(lines[2 * i: 2 * i + 2])) for i in range(200)]
    news = root / "news.jsonl"
    with open(news, "w", encoding="utf-8") as out:
        for number, (doc_id, text) in enumerate(good):
            out.write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")
            if number % 50 == 25:
                out.write("\n")  # blank lines are no documents
        out.write('{"id": "truncated", "text": "Le Kremlin a\n')
        out.write(json.dumps({"id": "no-text", "body": "Bonjour."}) + "\n")
        out.write(json.dumps({"id": "number", "text": 42}) + "\n")
        out.write(json.dumps({"id": "blank", "text": " \n "}) + "\n")
        out.write(json.dumps({"id": "too-long", "text": "Le Kremlin a parlé. " * 1200}) + "\n")
    articles = root / "articles"
    articles.mkdir()
    (articles / "kremlin-pekin.fr.txt").write_text(SEED_FR.read_text(encoding="utf-8"), encoding="utf-8")
    (articles / "latin1.txt").write_bytes("Élysée, été, café.".encode("latin-1"))
    broken = {
        f"{news}:{len(good) + 5}": "not valid JSON",
        "no-text": "field 'text' must be a string, is missing",
        "number": "field 'text' must be a string, is a number",
        "blank": "INVALID_ARGUMENT: text is empty",
        "too-long": f"over the limit of {MAX_CHARS:,}",
        str(articles / "latin1.txt"): "not UTF-8",
    }
    # Folders are read in sorted order: latin1.txt (broken) comes after the seed article.
    good.append((str(articles / "kremlin-pekin.fr.txt"), SEED_FR.read_text(encoding="utf-8")))
    return Corpus([news, articles], good, broken)


@pytest.fixture(scope="module")
def ray_address():
    """One Ray instance for the module, 2 CPUs; drivers in other processes join it by address."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Each good document's JSONL as `alinea translate -f jsonl` writes it from a single server, by id;
    the server's refusals of the broken documents it would be sent, by id, as "CODE: message"."""
    log = tmp_path_factory.mktemp("single-server") / "server.log"
    expected: dict[str, str] = {}
    with start_local_server(["--grace-period", "5", "--max-request-chars", str(MAX_CHARS)], log) as server:
        with TranslationClient(server.address, timeout=600) as client:
            started = time.monotonic()
            for doc_id, text in corpus.good:
                out = io.StringIO()
                write_jsonl(client.translate(text, source_language="fr", document_id=doc_id, options=BEAM), out)
                expected[doc_id] = out.getvalue()
            seconds = time.monotonic() - started
            for doc_id, text in (("blank", " \n "), ("too-long", "Le Kremlin a parlé. " * 1200)):
                with pytest.raises(grpc.RpcError) as refused:
                    client.translate(text, source_language="fr", document_id=doc_id, options=BEAM)
                expected[doc_id] = f"{refused.value.code().name}: {refused.value.details()}"
    print(f"\nsingle server, one call at a time: {len(corpus.good)} documents in {seconds:.1f}s "
          f"({len(corpus.good) / seconds:.2f} documents/s)")
    return expected


def _documents(output: Path) -> list[tuple[str, str]]:
    """(document id, its JSONL lines) in file order; a document split in two runs shows up twice."""
    runs: list[tuple[str, str]] = []
    for line in output.read_text(encoding="utf-8").splitlines(keepends=True):
        doc_id = json.loads(line)["document_id"]
        if runs and runs[-1][0] == doc_id:
            runs[-1] = (doc_id, runs[-1][1] + line)
        else:
            runs.append((doc_id, line))
    return runs


def _check_output(corpus: Corpus, reference: dict[str, str], output: Path, errors: Path) -> None:
    """Every good document exactly once, in input order, equal to the single server's; every broken one reported once."""
    documents = _documents(output)
    assert [doc_id for doc_id, _ in documents] == [doc_id for doc_id, _ in corpus.good]
    different = [doc_id for doc_id, lines in documents if lines != reference[doc_id]]
    assert different == [], f"{len(different)} documents differ from the single server's output, e.g. {different[:3]}"
    reported = [json.loads(line) for line in errors.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["document_id"] for r in reported) == sorted(corpus.broken)
    for record in reported:
        assert corpus.broken[record["document_id"]] in record["reason"], record
        if record["document_id"] in reference:  # the same refusal, word for word, as the server's
            assert record["reason"] == reference[record["document_id"]]


def _batch_args(corpus: Corpus, output: Path, *extra: str) -> list[str]:
    return ["batch", *map(str, corpus.inputs), str(output), "--shard-size", str(SHARD_SIZE),
            "--max-request-chars", str(MAX_CHARS), "--beam-size", "1", "--window", "1", "--no-progress", *extra]


def test_batch_equals_the_single_server(corpus, reference, ray_address, tmp_path, capsys):
    output, tmx = tmp_path / "out.jsonl", tmp_path / "out.tmx"
    code = main(_batch_args(corpus, output, "--tmx", str(tmx)))
    err = capsys.readouterr().err
    with capsys.disabled():
        print("\n" + err)
    assert code == 1, err  # 1: some documents are in the errors file
    assert f"{len(corpus.good)} documents translated, {len(corpus.broken)} errors" in err
    _check_output(corpus, reference, output, tmp_path / "out.errors.jsonl")
    assert not (tmp_path / "out.jsonl.parts").exists()  # the work directory is gone once the outputs are whole

    # One TMX for the whole corpus: a unit per segment, tuids unique, valid against the TMX 1.4b DTD.
    from lxml import etree

    document = etree.parse(str(tmx))
    assert etree.DTD(str(REPO / "tests" / "data" / "tmx14.dtd")).validate(document)
    units = ElementTree.parse(tmx).getroot().findall("./body/tu")
    assert len(units) == len(output.read_text(encoding="utf-8").splitlines())
    assert len({u.get("tuid") for u in units}) == len(units)

    # A finished output is not overwritten by accident.
    assert main(_batch_args(corpus, output)) == 2
    assert "pass --overwrite" in capsys.readouterr().err


def _finished_shards(parts: Path) -> list[Path]:
    return sorted(p for p in parts.glob("*.jsonl") if not p.name.endswith(".errors.jsonl"))


def test_killed_run_resumes_and_writes_every_document_exactly_once(corpus, reference, ray_address, tmp_path):
    output = tmp_path / "out.jsonl"
    parts = tmp_path / "out.jsonl.parts"
    command = [sys.executable, "-m", "alinea.client.cli", *_batch_args(corpus, output, "--ray-address", ray_address,
                                                                        "--keep-parts")]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(_finished_shards(parts)) < 5 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    _, err = first.communicate(timeout=60)
    done = {p.name: p.stat().st_mtime_ns for p in _finished_shards(parts)}
    total_shards = -(-(len(corpus.good) + len(corpus.broken)) // SHARD_SIZE)
    assert 5 <= len(done) < total_shards, f"the run was not interrupted mid-way ({len(done)} shards done): {err}"
    assert not output.exists()

    second = subprocess.run(command, capture_output=True, text=True, timeout=300)
    print(second.stderr)
    assert second.returncode == 1, second.stderr
    assert f"({len(done)} done before)" in second.stderr
    # The shards finished before the kill were neither redone nor rewritten.
    assert {name: (parts / name).stat().st_mtime_ns for name in done} == done
    _check_output(corpus, reference, output, tmp_path / "out.errors.jsonl")


def test_local_ray_instance_lines_and_refusals(tmp_path):
    """Without --ray-address the command starts (and stops) a Ray instance of its own."""
    headlines = tmp_path / "headlines.txt"
    headlines.write_text("Le Kremlin a revendiqué le soutien de Pékin.\n\nBonjour.\nLa Chine a répondu.\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    command = [sys.executable, "-m", "alinea.client.cli", "batch", str(headlines), str(output), "--lines",
               "--num-cpus", "1", "--beam-size", "1"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    assert "on a local Ray instance" in run.stderr
    assert [doc_id for doc_id, _ in _documents(output)] == [f"{headlines}:{n}" for n in (1, 3, 4)]
    assert (tmp_path / "out.errors.jsonl").read_text() == ""

    # Refusals that need no Ray: an unfinished run with other settings, a missing input.
    (tmp_path / "other.jsonl.parts").mkdir()
    (tmp_path / "other.jsonl.parts" / "manifest.json").write_text('{"shard_size": 3}')
    refused = subprocess.run([*command[:4], str(headlines), str(tmp_path / "other.jsonl"), "--lines"],
                             capture_output=True, text=True, timeout=60, env=env)
    assert refused.returncode == 2 and "holds an unfinished run with other" in refused.stderr
    missing = subprocess.run([*command[:4], str(tmp_path / "missing.txt"), str(tmp_path / "x.jsonl")],
                             capture_output=True, text=True, timeout=60, env=env)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
