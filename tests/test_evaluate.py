"""`alinea eval`: sacrebleu scores with signatures, baselines, the --check gate, --compare."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alinea.client import evaluate
from alinea.client.cli import main
from conftest import REPO

MANIFEST = REPO / "tests" / "quality" / "testsets.json"
DEV_EN = REPO / "tests" / "quality" / "flores200-dev" / "flores200-dev.en"
SEED_REF = REPO / "seeds" / "kremlin-pekin.en.ref.txt"


def sacrebleu_cli(reference: Path, hypotheses: Path, *metric_args: str) -> float:
    result = subprocess.run(
        [sys.executable, "-m", "sacrebleu", str(reference), "-i", str(hypotheses), "-w", "2", *metric_args],
        capture_output=True, text=True, check=True,
    )
    return json.loads(result.stdout)["score"]


def test_manifest_lists_seed_and_dev():
    sets = {t.name: t for t in evaluate.load_testsets(MANIFEST)}
    assert set(sets) == {"kremlin-pekin", "flores200-dev"}
    assert sets["kremlin-pekin"].level == "document"
    assert len(sets["kremlin-pekin"].units(sets["kremlin-pekin"].reference)) == 11
    assert len(sets["flores200-dev"].units(sets["flores200-dev"].source)) == 997


def test_scores_match_sacrebleu_command_line(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["eval", "--testsets", str(MANIFEST), "--testset", "kremlin-pekin", "--in-process",
                 "--model-dir", str(tiny_model_dir), "--model", "tiny-random-fr-en",
                 "--output-dir", str(out), "--json", str(tmp_path / "scores.json")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:" in printed
    (report,) = json.loads((tmp_path / "scores.json").read_text())
    assert report["model"] == "tiny-random-fr-en" and report["units"] == 11
    # The document-level reference, one paragraph a line, as sacrebleu reads files.
    reference = tmp_path / "ref.txt"
    reference.write_text("\n".join(evaluate.split_units(SEED_REF.read_text(), "document")) + "\n")
    hypotheses = out / "kremlin-pekin.hyp"
    assert report["scores"]["BLEU"]["score"] == pytest.approx(sacrebleu_cli(reference, hypotheses, "-m", "bleu"), abs=0.011)
    assert report["scores"]["chrF"]["score"] == pytest.approx(sacrebleu_cli(reference, hypotheses, "-m", "chrf"), abs=0.011)
    assert report["scores"]["chrF++"]["score"] == pytest.approx(
        sacrebleu_cli(reference, hypotheses, "-m", "chrf", "--chrf-word-order", "2"), abs=0.011)


def degrade(lines: list[str]) -> list[str]:
    """Drop every fifth sentence, as a broken pipeline might."""
    return ["" if i % 5 == 4 else line for i, line in enumerate(lines)]


def test_check_fails_on_a_degraded_output_and_names_set_and_metric(tmp_path, capsys):
    baselines = tmp_path / "baselines"
    good = tmp_path / "good.hyp"
    # A strong system: the reference with a slight change in every line.
    good.write_text("".join(line.replace(" the ", " a ", 1) + "\n" for line in DEV_EN.read_text().splitlines()))
    bad = tmp_path / "bad.hyp"
    bad.write_text("".join(line + "\n" for line in degrade(good.read_text().splitlines())))
    args = ["eval", "--testsets", str(MANIFEST), "--testset", "flores200-dev", "--baselines", str(baselines), "--model", "m"]

    assert main([*args, "--hypotheses", str(good), "--update-baseline"]) == 0
    assert (baselines / "m" / "flores200-dev.json").is_file() and (baselines / "m" / "flores200-dev.hyp").is_file()
    assert main([*args, "--hypotheses", str(good), "--check"]) == 0
    capsys.readouterr()

    assert main([*args, "--hypotheses", str(bad), "--check"]) == 1
    out = capsys.readouterr().out
    assert "FAIL flores200-dev: BLEU fell" in out
    assert "FAIL flores200-dev: chrF fell" in out
    # The report shows where: the dropped sentences, side by side.
    assert "segments whose chrF fell most" in out and "now:       \n" in out


def test_check_without_baseline_fails(tmp_path, capsys):
    code = main(["eval", "--testsets", str(MANIFEST), "--testset", "flores200-dev", "--baselines", str(tmp_path),
                 "--hypotheses", str(DEV_EN), "--model", "m", "--check"])
    assert code == 1
    assert "no baseline for model m" in capsys.readouterr().out


def test_changed_signature_is_a_failure():
    score = evaluate.Score
    before = evaluate.Report("set", "m", 1, {"BLEU": score(30.0, "tok:13a")})
    after = evaluate.Report("set", "m", 1, {"BLEU": score(30.0, "tok:intl")})
    (regression,) = evaluate.check(after, before, {"BLEU": 1.0})
    assert "signature changed" in str(regression)


def test_entity_rates_are_gated_in_percentage_points():
    before = evaluate.Report("set", "m", 1, {}, entity_preservation=0.95, reference_entities=1000,
                             reference_entity_rate=0.9989)
    slight = evaluate.Report("set", "m", 1, {}, entity_preservation=0.95, reference_entities=998,
                             reference_entity_rate=0.9957)
    assert evaluate.check(slight, before, {"entities": 0.5}) == []
    (regression,) = evaluate.check(slight, before, {"entities": 0.1})
    assert str(regression) == ("set: entity preservation (in reference) fell 0.32 points "
                               "(99.89 → 99.57; tolerance 0.1)")
    worse = evaluate.Report("set", "m", 1, {}, entity_preservation=0.90)
    (regression,) = evaluate.check(worse, before, {"entities": 0.5})
    assert regression.metric == "entity preservation" and regression.current == pytest.approx(90.0)


def test_entity_preservation(tmp_path):
    entities = tmp_path / "e.tsv"
    entities.write_text("# header\nPékin\tLOC\tBeijing|Peking\t2\nOtan\tORG\tNATO\t1\nUS\tLOC\tUS\t1\n")
    assert evaluate.entity_preservation(entities, "Beijing and NATO met in Peking. USA") == 1.0 - 1 / 4
    assert evaluate.entity_preservation(entities, "Beijing Beijing Beijing NATO US") == 1.0


def test_compare_with_paired_bootstrap(tmp_path, capsys):
    reference = DEV_EN.read_text().splitlines()[:200]
    a, b, ref = tmp_path / "a", tmp_path / "b", tmp_path / "ref"
    ref.write_text("\n".join(reference) + "\n")
    a.write_text("\n".join(reference) + "\n")
    b.write_text("\n".join(degrade(reference)) + "\n")
    results = evaluate.compare(reference, reference, degrade(reference), samples=200)
    bleu = next(v for k, v in results.items() if k.startswith("BLEU"))
    assert bleu[1] < bleu[0] and bleu[2] < 0.05
    assert main(["eval", "--compare", str(a), str(b), "--reference", str(ref), "--bootstrap-samples", "200"]) == 0
    assert "significant" in capsys.readouterr().out


def test_bad_inputs_are_reported(tmp_path, capsys):
    assert main(["eval", "--testsets", str(tmp_path / "none.json")]) == 2
    assert main(["eval", "--testsets", str(MANIFEST), "--testset", "nope"]) == 2
    short = tmp_path / "short.hyp"
    short.write_text("one line\n")
    assert main(["eval", "--testsets", str(MANIFEST), "--testset", "flores200-dev", "--hypotheses", str(short)]) == 2
    err = capsys.readouterr().err
    assert "no test set manifest" in err and "unknown test sets ['nope']" in err and "1 hypotheses for 997 references" in err


def test_through_a_running_server(server, tmp_path, capsys):
    code = main(["eval", "--testsets", str(MANIFEST), "--testset", "kremlin-pekin", "--server", server.address,
                 "--json", str(tmp_path / "s.json")])
    assert code == 0
    (report,) = json.loads((tmp_path / "s.json").read_text())
    assert report["model"] == "tiny-random-fr-en" and report["units"] == 11
