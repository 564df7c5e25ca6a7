"""alinea.models.vmap: the vocabulary map learned from a corpus, and the translator scoring only its candidates."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
import sentencepiece as spm

from alinea.models import vmap
from alinea.server.config import parse_args
from alinea.server.translate import Translator, TranslatorSettings
from conftest import SEED_EN, SEED_FR


@pytest.fixture
def model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def read_map(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    fixed = lines[0].split("\t")[1].split()
    assert lines[0].startswith("\t")
    return fixed, {key: values.split() for key, values in (line.split("\t") for line in lines[1:])}


def test_candidates_are_the_pieces_that_share_most_sentence_pairs(model_copy: Path):
    assert vmap.main([str(model_copy), "--corpus", str(SEED_FR), str(SEED_EN), "--fixed", "20", "--per-source", "5",
                      "--min-count", "2"]) == 0
    fixed, candidates = read_map(model_copy / "vmap.txt")

    # The same counts, the slow way: each piece once per line pair.
    source = spm.SentencePieceProcessor(model_file=str(model_copy / "source.spm"))
    target = spm.SentencePieceProcessor(model_file=str(model_copy / "target.spm"))
    vocabulary = set(vmap.target_vocabulary(model_copy))
    pairs = [(set(source.encode(fr, out_type=str)), {p for p in target.encode(en, out_type=str) if p in vocabulary})
             for fr, en in zip(SEED_FR.read_text().splitlines(), SEED_EN.read_text().splitlines(), strict=True)]
    target_counts = Counter(p for _, targets in pairs for p in targets)
    shared = Counter((s, t) for sources, targets in pairs for s in sources for t in targets)

    assert len(fixed) == 20
    assert min(target_counts[p] for p in fixed) >= max(c for p, c in target_counts.items() if p not in fixed)
    assert candidates  # the article's pieces have candidates
    for key, values in candidates.items():
        learned = values
        if values[-1] == key and (len(values) > 5 or shared[key, key] < 2):
            learned = values[:-1]  # the piece itself, appended for names and numbers
        assert len(learned) <= 5 and all(shared[key, t] >= 2 for t in learned)
        assert not set(values) & set(fixed)
        counts = [shared[key, t] for t in learned]
        assert counts == sorted(counts, reverse=True)
        # Nothing left out shares more pairs with the piece than the last one kept.
        if len(learned) == 5:
            assert all(c <= counts[-1] for (s, t), c in shared.items() if s == key and t not in fixed + learned)
    assert any(len(values) >= 5 for values in candidates.values())  # the cut at --per-source was checked


def test_the_translator_scores_only_the_map_and_can_be_told_not_to(model_copy: Path):
    source = spm.SentencePieceProcessor(model_file=str(model_copy / "source.spm"))
    sentences = [source.encode(line, out_type=str) + ["</s>"] for line in SEED_FR.read_text().splitlines()[:3]]
    full = Translator(model_copy, TranslatorSettings(inter_threads=1))
    assert not full.vocabulary_map
    unrestricted = {t for h in full.translate(sentences, beam_size=2, attention=False) for t in h.tokens}

    allowed = sorted(unrestricted)[:3]
    (model_copy / "vmap.txt").write_text("\t" + " ".join(allowed) + "\n", encoding="utf-8")
    restricted = Translator(model_copy, TranslatorSettings(inter_threads=1))
    assert restricted.vocabulary_map
    tokens = {t for h in restricted.translate(sentences, beam_size=2, attention=False) for t in h.tokens}
    assert tokens <= set(allowed) | {"<unk>"} and len(unrestricted) > len(allowed)

    off = Translator(model_copy, TranslatorSettings(inter_threads=1, vocabulary_map=False))
    assert not off.vocabulary_map
    assert {t for h in off.translate(sentences, beam_size=2, attention=False) for t in h.tokens} == unrestricted


def test_server_flag_and_bad_input(model_copy: Path, tmp_path: Path, capsys):
    assert parse_args([]).vocabulary_map
    assert not parse_args(["--no-vocabulary-map"]).vocabulary_map
    with pytest.raises(SystemExit):
        vmap.main([str(model_copy), "--corpus", str(tmp_path / "missing.fr"), str(SEED_EN)])
    assert "missing.fr: no such file" in capsys.readouterr().err
    short = tmp_path / "short.en"
    short.write_text("one line\n")
    assert vmap.main([str(model_copy), "--corpus", str(SEED_FR), str(short)]) == 2
    assert "do not have the same number of lines" in capsys.readouterr().err
    assert not (model_copy / "vmap.txt").exists()
