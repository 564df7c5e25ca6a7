"""Alignment error rate: the metric on hand-made examples, the gold set, and a run on the tiny model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from alinea.server import alignment_eval as ae
from alinea.server.align import grow_diag
from alinea.server.records import Span
from alinea.server.tokenize import Pieces
from conftest import REPO

DATA = REPO / "tests" / "data" / "alignment"


def pair(sure: set, possible: set = frozenset(), source: int = 3, target: int = 3) -> ae.GoldPair:
    return ae.GoldPair(["f"] * source, ["e"] * target, frozenset(sure), frozenset(sure) | frozenset(possible))


def test_aer_of_hand_made_alignments():
    gold = [pair({(0, 0), (1, 1)}, {(1, 2)})]
    perfect = ae.score([{(0, 0), (1, 1)}], gold)
    assert (perfect.precision, perfect.recall, perfect.aer, perfect.links) == (1.0, 1.0, 0.0, 2)
    # Possible links cost nothing: predicting all of P is still a perfect score.
    assert ae.score([{(0, 0), (1, 1), (1, 2)}], gold).aer == 0.0
    # |A∩S| = 1, |A∩P| = 2, |A| = 3, |S| = 2: AER = 1 - 3/5.
    mixed = ae.score([{(0, 0), (1, 2), (2, 2)}], gold)
    assert mixed.precision == pytest.approx(2 / 3) and mixed.recall == 0.5 and mixed.aer == pytest.approx(0.4)
    assert ae.score([{(2, 0)}], gold).aer == 1.0  # all wrong
    nothing = ae.score([set()], gold)
    assert (nothing.precision, nothing.recall, nothing.aer) == (0.0, 0.0, 1.0)
    # Corpus level: counts are summed over sentences, not averaged.
    two = ae.score([{(0, 0), (1, 1)}, set()], [gold[0], pair({(0, 0), (1, 1), (2, 2)})])
    assert two.recall == pytest.approx(2 / 5) and two.aer == pytest.approx(1 - 4 / 7)
    with pytest.raises(ValueError):
        ae.score([set()], [])


def test_gold_links_parse_and_the_sets_match_their_provenance():
    sure, possible = ae.parse_links("0-0 1?1 2-3 10?2")
    assert sure == {(0, 0), (2, 3)} and possible == {(0, 0), (1, 1), (2, 3), (10, 2)}
    for name, pairs, sure_links, possible_links, english, french in (("trial", 37, 338, 1446, 661, 721),
                                                                     ("test", 447, 4038, 13400, 7020, 7761)):
        gold = ae.load_gold(DATA, name)
        assert len(gold) == pairs
        assert sum(len(g.sure) for g in gold) == sure_links
        assert sum(len(g.possible - g.sure) for g in gold) == possible_links
        assert (sum(len(g.target) for g in gold), sum(len(g.source) for g in gold)) == (english, french)
    first = ae.load_gold(DATA, "trial")[0]
    assert (first.source[0], first.target[0]) == ("chacun", "each") and (0, 0) in first.sure


def forced(attention: list[list[float]]) -> ae.Forced:
    """'le chat noir' → 'the black cat', source pieces le|ch|at|noir, target pieces the|black|cat."""
    source_text, source_tokens = ae.token_spans(["le", "chat", "noir"])
    target_text, target_tokens = ae.token_spans(["the", "black", "cat"])
    source = Pieces(["▁le", "▁ch", "at", "▁noir"], [Span(0, 2), Span(3, 5), Span(5, 7), Span(8, 12)])
    target = Pieces(["▁the", "▁black", "▁cat"], [Span(0, 3), Span(4, 9), Span(10, 13)])
    return ae.Forced(source, source_tokens, target, target_tokens, attention)


# Rows: decoding steps (one per target piece, and one more); columns: le, ch, at, noir, </s>.
STEP = [
    [0.8, 0.0, 0.0, 0.1, 0.1],  # predicts "the"
    [0.0, 0.1, 0.1, 0.7, 0.1],  # predicts "black"
    [0.0, 0.3, 0.4, 0.2, 0.1],  # predicts "cat"
    [0.0, 0.0, 0.1, 0.0, 0.9],  # reads "cat"
]


def test_methods_on_a_hand_made_attention():
    f = forced(STEP)
    gold = [ae.GoldPair(["le", "chat", "noir"], ["the", "black", "cat"], frozenset({(0, 0), (1, 2), (2, 1)}),
                        frozenset({(0, 0), (1, 2), (2, 1)}))]
    assert ae.links_argmax(f, False, 0.3) == {(0, 0), (2, 1), (1, 2)}
    assert ae.score([ae.links_argmax(f, False, 0.3)], gold).aer == 0.0
    # Word level: "chat" gets the sum of "ch" and "at"; </s> counts for nothing.
    matrix = ae._matrix(f, shift=False)
    assert matrix[2] == pytest.approx([0.0, 0.7, 0.2])
    assert ae.links_intersect(f, False, 0.3) == {(0, 0), (2, 1), (1, 2)}
    assert ae.links_threshold(f, False, 0.5) == {(0, 0), (2, 1), (1, 2)}
    assert ae.links_threshold(f, False, 0.75) == {(0, 0)}
    # Shifted, each target piece takes the next step's row: "the" ← row 1, "black" ← row 2, "cat" ← row 3.
    assert ae.links_argmax(f, True, 0.3) == {(2, 0), (1, 1), (1, 2)}
    assert ae._matrix(f, shift=True)[0] == pytest.approx([0.0, 0.2, 0.7])
    # Both argmax directions agree here, so grow-diag adds nothing to their intersection.
    assert ae.links_grow_diag(f, False, 0.3) == {(0, 0), (2, 1), (1, 2)}


def test_grow_diag_adds_neighbours_that_align_unaligned_words():
    intersection = {(0, 0), (2, 2)}
    union = intersection | {(1, 1), (1, 2), (3, 3), (3, 0), (0, 3)}
    # (1, 1) and (3, 3) touch chosen links and align unaligned words; (1, 2) would only link two words
    # already aligned by then; (3, 0) and (0, 3) touch no chosen link.
    assert grow_diag(intersection, union) == {(0, 0), (1, 1), (2, 2), (3, 3)}
    assert grow_diag(set(), union) == set()


def test_tiny_model_end_to_end(tiny_model_dir: Path, capsys):
    settings = ae.alignment_settings(tiny_model_dir)
    assert settings == {"alignment_layer": -1, "alignment_heads": 1, "num_heads": 2, "num_layers": 1}
    gold = ae.load_gold(DATA, "trial")
    decoded = ae.ForcedDecoder(tiny_model_dir).decode(gold[:5], batch_size=2)
    for f in decoded:
        assert len(f.attention) == len(f.target.tokens) + 1
        assert all(len(row) == len(f.source.tokens) + 1 and sum(row) == pytest.approx(1, abs=1e-3) for row in f.attention)
    assert ae.main(["--model-dir", str(tiny_model_dir), "--set", "trial"]) == 0
    out = capsys.readouterr().out
    assert "37 sentence pairs, 338 sure + 1446 possible links" in out
    assert "decoder layer -1 of 1, head 0 of 2" in out
    rows = {line.split()[0]: [float(v) for v in line.split()[1:4]] for line in out.splitlines()
            if line.split() and line.split()[0].count("/") == 1}
    assert set(rows) == {f"{m}/{s}" for m in ae.METHODS for s in ("step", "shift")}
    # Random weights: near-random alignments, but a score for every method.
    assert all(0.5 <= aer <= 1.0 and 0 <= precision <= 1 and 0 <= recall <= 1 for precision, recall, aer in rows.values())


def test_runs_as_a_module(tiny_model_dir: Path, tmp_path: Path):
    result = subprocess.run([sys.executable, "-m", "alinea.server.alignment_eval", "--model-dir", str(tiny_model_dir),
                             "--set", "trial"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "argmax/step" in result.stdout and "(the server's method)" in result.stdout
    missing = subprocess.run([sys.executable, "-m", "alinea.server.alignment_eval", "--model-dir", str(tiny_model_dir),
                              "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "cannot read the gold set" in missing.stderr
