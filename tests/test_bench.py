"""The throughput benchmark's arithmetic: what a sentence the server repaired is credited with, CPU per document."""

import importlib.util
import sys
from pathlib import Path

from alinea.v1 import translation_pb2 as pb

BENCH = Path(__file__).resolve().parent.parent / "bench" / "throughput.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("throughput", BENCH)
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
