"""The `alinea` command line against a real server."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from lxml import etree

from alinea.client.cli import main
from alinea.client.formats import read_jsonl, write_tmx, write_tsv
from alinea.v1 import translation_pb2 as pb
from conftest import REPO, SEED_FR

DTD = etree.DTD(str(REPO / "tests" / "data" / "tmx14.dtd"))


def run(server, capsys, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--server", server.address])
    out, err = capsys.readouterr()
    return code, out, err


def test_text_output_keeps_paragraphs(server, capsys):
    code, out, err = run(server, capsys, "translate", str(SEED_FR))
    assert code == 0
    assert "random-weight test model" in err  # the demo on the tiny model says so
    assert out.count("\n\n") == SEED_FR.read_text(encoding="utf-8").count("\n\n")


def test_tsv_output(server, capsys):
    code, out, _ = run(server, capsys, "translate", str(SEED_FR), "--format", "tsv", "--beam-size", "1")
    rows = [line.split("\t") for line in out.splitlines()]
    assert code == 0
    assert rows[0] == ["index", "paragraph", "source_start", "source_end", "source_text", "target_text"]
    assert len(rows) == 20 and all(len(r) == 6 for r in rows)
    text = SEED_FR.read_text(encoding="utf-8")
    for index, _, start, end, source, _ in rows[1:]:
        assert text[int(start) : int(end)] == source


def test_jsonl_round_trip(server, capsys):
    code, out, _ = run(server, capsys, "translate", str(SEED_FR), "--format", "jsonl", "--beam-size", "1")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 19
    assert records[0]["document_id"] == str(SEED_FR)
    assert records[0]["model"] == "tiny-random-fr-en"
    assert {"index", "paragraph", "source_span", "source_text", "target_text", "alignments", "entities", "score"} <= set(records[0])
    segments = read_jsonl(io.StringIO(out))
    assert [s.source_text for s in segments] == [r["source_text"] for r in records]
    assert segments[3].alignments == [
        pb.WordAlignment(
            source_span=pb.Span(start=a["source_span"]["start"], end=a["source_span"]["end"]),
            target_span=pb.Span(start=a["target_span"]["start"], end=a["target_span"]["end"]),
        )
        for a in records[3]["alignments"]
    ]


def test_tmx_output_is_valid_tmx_14b(server, capsys, tmp_path):
    out_file = tmp_path / "seed.tmx"
    code, _, _ = run(server, capsys, "translate", str(SEED_FR), "--format", "tmx", "-o", str(out_file), "--beam-size", "1")
    assert code == 0
    document = etree.parse(str(out_file))
    assert DTD.validate(document), DTD.error_log.filter_from_errors()
    units = document.findall("body/tu")
    assert len(units) == 19
    xml_lang = "{http://www.w3.org/XML/1998/namespace}lang"
    assert [tuv.get(xml_lang) for tuv in units[0].findall("tuv")] == ["fr", "en"]
    assert units[0].find("tuv/seg").text.startswith("Le Kremlin a revendiqué")


def test_tmx_and_tsv_survive_hostile_characters():
    response = pb.TranslateDocumentResponse(
        source_language_code="fr", target_language_code="en", model="m",
        segments=[pb.Segment(index=0, source_text="a\x00b\x1f <&> \"'\tc", target_text="x\\y\tz")],
    )
    tmx = io.StringIO()
    write_tmx(response, tmx)
    document = etree.fromstring(tmx.getvalue().encode("utf-8"))
    assert DTD.validate(document), DTD.error_log.filter_from_errors()
    assert document.find("body/tu/tuv/seg").text == "a\ufffdb\ufffd <&> \"'\tc"
    tsv = io.StringIO()
    write_tsv(response, tsv)
    assert tsv.getvalue().splitlines()[1].split("\t")[-1] == "x\\\\y\\tz"


def test_several_files_into_a_directory(server, capsys, tmp_path):
    second = tmp_path / "court.fr.txt"
    second.write_text("Bonjour.\n\nAu revoir.\n", encoding="utf-8")
    out_dir = tmp_path / "out"
    code, _, _ = run(server, capsys, "translate", str(SEED_FR), str(second), "-o", str(out_dir), "-f", "jsonl")
    assert code == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["court.en.jsonl", "kremlin-pekin.en.jsonl"]
    assert len((out_dir / "court.en.jsonl").read_text().splitlines()) == 2


def test_failures_are_reported_and_counted(server, capsys, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    code, out, err = run(server, capsys, "translate", str(empty), str(SEED_FR), "-o", str(tmp_path / "o"))
    assert code == 1
    assert f"{empty}: INVALID_ARGUMENT: text is empty" in err
    assert (tmp_path / "o" / "kremlin-pekin.en.txt").is_file()  # the good file is not lost
    code, _, err = run(server, capsys, "translate", str(tmp_path / "missing.txt"))
    assert code == 1 and "cannot read" in err


def test_unreachable_server(capsys):
    code = main(["translate", str(SEED_FR), "--server", "127.0.0.1:1", "--timeout", "5"])
    assert code == 1
    assert "UNAVAILABLE" in capsys.readouterr().err


def test_wait_gives_up_on_a_server_that_never_comes(capsys):
    code = main(["models", "--server", "127.0.0.1:1", "--wait", "1"])
    assert code == 1
    assert "did not come up within 1s" in capsys.readouterr().err


def test_models_command(server, capsys):
    code, out, _ = run(server, capsys, "models")
    assert code == 0
    assert "tiny-random-fr-en" in out and "[TEST ONLY]" in out


def test_console_script_reads_stdin(server):
    result = subprocess.run(
        [str(Path(sys.executable).parent / "alinea"), "translate", "-", "--server", server.address, "-f", "tsv"],
        input="Bonjour le monde.\n", capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].split("\t")[4] == "Bonjour le monde."
