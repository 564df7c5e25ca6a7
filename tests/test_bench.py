"""The benchmarks' arithmetic: what a sentence the server repaired is credited with, CPU per document, paired ratios."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from alinea.v1 import translation_pb2 as pb

BENCH = Path(__file__).resolve().parent.parent / "bench" / "throughput.py"


def load_bench(name: str = "throughput"):
    spec = importlib.util.spec_from_file_location(name, BENCH.parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_a_repaired_sentence_counts_the_model_output_and_copies_and_repeats_count_nothing(tiny_model_dir):
    bench = load_bench()
    pieces = bench.TargetPieces(tiny_model_dir)
    repaired = pb.Entity(status=pb.Entity.REPAIRED, target_span=pb.Span(start=0, end=7))
    response = pb.TranslateDocumentResponse(segments=[
        pb.Segment(source_text="Le Kremlin a gagné.", target_text="Kremlin won a victory over Beijing today."),
        pb.Segment(source_text="Pékin hésite.", target_text="Beijing hesitates.", entities=[repaired]),
        pb.Segment(source_text="Le Kremlin a gagné.", target_text="Kremlin won a victory over Beijing today."),
        pb.Segment(source_text="2024", target_text="2024", copied=True),
    ])
    model_output = {"Pékin hésite.": "Peking hesitates, the model wrote."}
    sentences, tokens = bench.translated_counts([response], pieces, model_output)
    assert sentences == 2
    assert tokens == pieces.count("Kremlin won a victory over Beijing today.") + pieces.count(model_output["Pékin hésite."])
    # Without the model's output, the repaired span is left out.
    _, without = bench.translated_counts([response], pieces, {})
    assert without == pieces.count("Kremlin won a victory over Beijing today.") + pieces.count(" hesitates.")


def test_server_cpu_is_per_document_in_each_run_against_raw_on_every_core():
    bench = load_bench()
    raw = bench.Row("flores", "ctranslate2", 30, 316, 9000, 2.5, [0.1], 150.0)
    on = bench.Row("flores", "alinea", 40, 420, 12000, 15.0, [1.0], 500.0, 16, True, server_cpu_seconds=8.6)
    off = bench.Row("flores", "alinea", 50, 525, 15000, 15.0, [1.0], 500.0, 16, False, server_cpu_seconds=9.7)
    remote = bench.Row("seed", "alinea", 5, 90, 3000, 15.0, [1.0], None, 16, True)  # a --server: no CPU read
    seed_raw = bench.Row("seed", "ctranslate2", 10, 180, 6000, 3.0, [0.3], 160.0)
    assert bench.server_cpu([raw, on, off, seed_raw, remote], cores=2) == [
        "flores: the server's CPU per document in the measured window, translation included: "
        "215 ms at c=16 on, 194 ms at c=16 off; raw CTranslate2 167 ms"
    ]


def test_latency_ratio_is_over_raw_latencies_measured_around_the_runs_when_there_are_some():
    bench = load_bench()
    raw = bench.Row("seed", "ctranslate2", 10, 180, 6000, 3.0, [0.2] * 10, 150.0)
    alinea = bench.Row("seed", "alinea", 10, 180, 6000, 3.0, [0.3] * 10, 500.0, 1, True)
    assert round(alinea.latency_ratio_to(raw), 6) == 1.5
    around = bench.replace(alinea, paired_latencies=[0.25] * 19 + [1.0])  # p95 between 0.25 and 1.0
    assert round(around.latency_ratio_to(raw), 6) == round(0.3 / (0.25 + 0.05 * 0.75), 6)


def test_pairing_noise_pairs_each_raw_pass_with_its_neighbours_as_alinea_runs_are():
    bench = load_bench()
    # A pass at half speed between two steady ones pairs at 0.5; steady ones beside it pair at 1.5 (their
    # neighbours' mean duration is 1.5 s against their own 1 s).
    lines = bench.pairing_noise({"flores": [1.0, 1.0, 2.0, 1.0, 1.0], "seed": [3.0, 3.0]})
    assert lines == ["flores: pairing noise, raw CTranslate2 paired with its own neighbouring passes: "
                     "median 1.500, p10–p90 0.700–1.500 over 3 passes"]


def test_attention_cost_times_raw_passes_with_attention_against_passes_without(tiny_model_dir):
    bench = load_bench()
    workloads = bench.build_workloads(tiny_model_dir, 4, 1)
    bench._raw_start(str(tiny_model_dir), workloads, 2)  # this process plays the raw CTranslate2 one
    sentences = bench._RAW.documents["flores"][0]
    assert all(r.attention for r in bench._RAW.translate(sentences, attention=True))
    assert not any(r.attention for r in bench._RAW.translate(sentences))
    ratios = bench._raw_attention_ratios("flores", 3)
    assert len(ratios) == 3 and all(r > 0 for r in ratios)
    assert bench.attention_cost({"flores": [1.2, 1.0, 1.1], "seed": []}) == [
        "flores: raw CTranslate2 asked for attention, as alinea asks whenever word alignment or entity repair is "
        "on, takes 1.100× its time without (median of 3 pairs of passes, the order alternating; p10–p90 "
        "1.020–1.180)"
    ]


def test_transformers_rows_run_on_the_served_weights_rebuilt(tiny_model_dir, monkeypatch):
    """Without --hf-model the bench rebuilds the served model for transformers and measures it."""
    bench = load_bench()
    # Its measurements run in spawned processes, which import the bench as "throughput" on this sys.path.
    monkeypatch.syspath_prepend(str(BENCH.parent))
    sentences = ["Le Kremlin a gagné.", "Pékin hésite encore."]
    workload = bench.Workload("tiny", [" ".join(sentences)], [sentences])
    [row] = bench.measure_transformers(None, tiny_model_dir, [workload], beam_size=2)
    assert (row.workload, row.system, row.sentences) == ("tiny", "transformers", 2)
    assert row.target_tokens > 0 and row.seconds > 0 and len(row.latencies) == 1
    assert row.peak_rss_mib > 0


def test_threads_bench_prints_every_layout_and_compute_type_with_bleu(tiny_model_dir):
    import ctranslate2

    from alinea.server.translate import available_cores

    script = BENCH.parent / "threads.py"
    result = subprocess.run([sys.executable, str(script), "--model-dir", str(tiny_model_dir), "--sentences", "3",
                             "--beam-size", "1", "--latency-calls", "1"], capture_output=True, text=True, timeout=300, check=True)
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    header, rows = rows[0], rows[1:]
    assert [c.strip() for c in header][-1] == "FLORES BLEU"
    compute_types = {row[2].strip() for row in rows}
    assert compute_types == {"default", *ctranslate2.get_supported_compute_types("cpu")}
    cores = available_cores()
    layouts = {(1, cores), (1, 1), (cores, 1), (2 * cores, 1)}
    assert len(rows) == len(layouts) * 3 + len(compute_types) - 1  # × 3 sub-batch sizes, then each type
    for row in rows:
        assert row[3].strip() == "no"  # the tiny model has no vocabulary map
        float(row[4]), float(row[6]), float(row[7])  # times and BLEU are numbers


def test_options_bench_divides_each_combination_by_neither_in_the_same_round(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH.parent))  # it imports the throughput bench, as a script would
    bench = load_bench("options")
    Slot = bench.Slot
    rounds = [  # the machine is twice as fast in the second round; the ratios do not see it
        [Slot("neither", 10, 2.0, 1.0, 0.1), Slot("alignment", 9, 2.0, 1.0, 0.2), Slot("entities", 8, 2.0, 1.0, 0.3),
         Slot("both", 6, 2.0, 1.2, 0.3)],
        [Slot("both", 12, 2.0, 1.2, 0.6), Slot("neither", 20, 2.0, 1.0, 0.1), Slot("alignment", 18, 2.0, 1.0),
         Slot("entities", 16, 2.0, 1.0, 0.3)],
    ]
    found = bench.summary(rounds)
    assert found["neither"]["ratio"] == 1.0
    assert found["alignment"]["ratio"] == 0.9 and found["entities"]["ratio"] == 0.8
    assert found["both"]["ratio"] == 0.6
    assert found["both"]["ratio_p10"] == pytest.approx(0.6) and found["both"]["ratio_p90"] == pytest.approx(0.6)
    assert found["both"]["documents_per_second"] == 4.5  # median of 3 and 6
    assert found["both"]["cpu_ms_per_document"] == pytest.approx(2.4 / 18 * 1000)
    assert found["both"]["python_cpu_ms_per_document"] == pytest.approx(0.9 / 18 * 1000)
    assert found["both"]["model_cpu_ms_per_document"] == pytest.approx(1.5 / 18 * 1000)
    # One slot without per-thread clocks: no split rather than a split of part of the slots.
    assert found["alignment"]["python_cpu_ms_per_document"] is None
    assert "| alignment | 6.75 | 0.900× | 0.900–0.900 | 74 | — | — |" in bench.table(found)
    assert [bench.rotated(r)[0] for r in range(5)] == ["neither", "alignment", "entities", "both", "neither"]


def test_options_bench_measures_every_combination_on_a_real_pipeline(tiny_model_dir):
    script = BENCH.parent / "options.py"
    result = subprocess.run([sys.executable, str(script), "--model-dir", str(tiny_model_dir), "--rounds", "2",
                             "--slot", "0.3", "--sentences", "20", "--concurrency", "2", "--parts"],
                            capture_output=True, text=True, timeout=300, check=True)
    options_table, parts_table = result.stdout.split("\n\n")
    rows = {line.split("|")[1].strip(): line for line in options_table.splitlines()
            if line.startswith("| ") and "---" not in line and "options on" not in line}
    assert list(rows) == ["neither", "alignment", "entities", "both"]
    parts = {line.split("|")[1].strip(): [float(cell) for cell in line.split("|")[2:-1]]
             for line in parts_table.splitlines() if line.startswith("| ") and "---" not in line and "part of" not in line}
    assert len(parts) == 8  # the seven parts and all Python threads
    finding = parts["finding entities (rules and NER)"]
    assert finding[0] == finding[1] == 0.0 and finding[2] > 0 and finding[3] > 0  # only where entities are on
    assert parts["segmenting and tokenizing"][0] > 0
    assert "| 1.000× | 1.000–1.000 |" in rows["neither"]
    for row in rows.values():
        cpu, python, model = (float(cell) for cell in row.split("|")[5:8])
        assert 0 < python <= cpu and model == pytest.approx(cpu - python, abs=1)  # Linux reads thread clocks
    assert "round 2/2" in result.stderr
