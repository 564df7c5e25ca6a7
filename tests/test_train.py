"""The training pipeline end to end on a tiny corpus: data → tokenizer → eflomal links → guided training → resume.

The corpus is the Hansards gold set's own sentences (tests/data/alignment),
so the test needs nothing outside the repository. The model is tiny and
trains for seconds: these tests check the machinery (files, resumption,
the alignment loss), not translation quality.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("eflomal")

import torch  # noqa: E402

from alinea.models.train.__main__ import main as train_main  # noqa: E402
from alinea.models.train.batching import collate  # noqa: E402
from alinea.models.train.evaluate import hansards_aer  # noqa: E402
from alinea.models.train.export import export  # noqa: E402
from alinea.models.train.guide import LINKS, TEACHER_AER, Links, save_links, symmetrize  # noqa: E402
from alinea.models.train.loop import alignment_loss  # noqa: E402
from alinea.models.train.tokenize import Encoded  # noqa: E402

GOLD = Path(__file__).parent / "data" / "alignment"
TINY = ["--d-model", "32", "--encoder-layers", "1", "--decoder-layers", "1", "--heads", "2", "--ffn-dim", "64",
        "--source-vocab", "400", "--target-vocab", "400", "--batch-tokens", "512", "--dev-sample", "4",
        "--eval-beam", "1", "--threads", "1", "--no-bf16", "--heldout", "20"]


def test_symmetrize_keeps_agreement_and_fills_unaligned_words():
    forward = {(0, 0), (1, 1), (2, 1)}
    backward = {(0, 0), (1, 1), (3, 3)}
    links = symmetrize(forward, backward)
    assert {(0, 0), (1, 1)} <= links
    assert (2, 1) in links  # neighbour of (1, 1) in the union, source word 2 unaligned
    assert (3, 3) in links  # final-and: both words unaligned


def test_collate_turns_links_into_attention_targets(tmp_path):
    # Two pairs: source lengths 3 and 2 (+ </s>), targets 3 and 1 (+ </s>).
    src = Encoded(np.array([5, 6, 7, 0, 8, 9, 0], dtype=np.int32), np.array([0, 4, 7]))
    tgt = Encoded(np.array([10, 11, 12, 0, 13, 0], dtype=np.int32), np.array([0, 4, 6]))
    save_links(tmp_path / "links.npz", [{(0, 0), (1, 0), (2, 2)}, set()])
    batch = collate(src, tgt, np.array([0, 1]), pad_id=99, links=Links(tmp_path / "links.npz"))
    assert batch.alignment.shape == (2, 4, 4)
    # Row p is the decoder position reading target piece p - 1.
    assert batch.alignment[0, 0].sum() == 0  # reads the start token
    assert batch.alignment[0, 1].tolist() == [0.5, 0.5, 0.0, 0.0]  # target piece 0 → source pieces 0 and 1
    assert batch.alignment[0, 2].sum() == 0  # piece 1 has no link
    assert batch.alignment[0, 3].tolist() == [0.0, 0.0, 1.0, 0.0]  # piece 2, read where </s> is predicted
    assert batch.alignment[1].sum() == 0


def test_alignment_loss_is_lowest_on_the_links():
    target = torch.zeros(1, 2, 3)
    target[0, 0, 1] = 1.0
    on = torch.tensor([[[0.01, 0.98, 0.01], [0.3, 0.3, 0.4]]])
    off = torch.tensor([[[0.98, 0.01, 0.01], [0.3, 0.3, 0.4]]])
    loss_on, rows = alignment_loss(on, target)
    loss_off, _ = alignment_loss(off, target)
    assert rows == 1
    assert loss_on.item() == pytest.approx(-math.log(0.98), rel=1e-4)
    assert loss_off.item() > loss_on.item()


def test_smoothed_weights_follow_the_model_and_swap_in_and_out():
    from alinea.models.train.smoothing import Smoothed

    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    smoothed = Smoothed(model, 0.25)
    with torch.no_grad():
        model.weight.fill_(4.0)
    smoothed.update()  # 0 + 0.25 * (4 - 0)
    assert smoothed.state_dict()["weight"].tolist() == [[1.0, 1.0]]
    with smoothed.swapped_in():
        assert model.weight.tolist() == [[1.0, 1.0]]
    assert model.weight.tolist() == [[4.0, 4.0]]
    resumed = Smoothed(model, 0.25, smoothed.state_dict())
    resumed.update()  # 1 + 0.25 * (4 - 1)
    assert resumed.state_dict()["weight"].tolist() == [[1.75, 1.75]]
    with pytest.raises(ValueError, match="between 0 and 1"):
        Smoothed(model, 1.5)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """The gold set's 484 sentence pairs as a gzipped training corpus."""
    out = tmp_path_factory.mktemp("corpus")
    for side in ("fr", "en"):
        lines = []
        for name in ("trial", "test"):
            lines += (GOLD / f"hansards-{name}.{side}").read_text(encoding="utf-8").splitlines()
        with gzip.open(out / f"hansards.{side}.gz", "wt", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    return out


@pytest.mark.timeout(600)
def test_training_with_guided_alignment_runs_and_resumes(corpus, tmp_path, caplog):
    work = tmp_path / "run"
    common = ["--work-dir", str(work), "--corpus-dir", str(corpus)]
    with caplog.at_level(logging.INFO, logger="alinea.train"):
        assert train_main([*common, *TINY, "--guided-alignment", "0.5", "--hours", "0.002", "--log-every", "5"]) == 0

    data = work / "data"
    links = Links(data / LINKS)
    assert len(links) == json.loads((data / "prepare.json").read_text())["train"]
    teacher = json.loads((data / TEACHER_AER).read_text())
    assert 0.0 <= teacher["test"]["aer"] <= 1.0 and teacher["test"]["links"] > 0
    records = [json.loads(line) for line in (work / "curve.jsonl").read_text().splitlines()]
    assert len(records) == 1
    first = records[0]
    assert first["guided_alignment"] == [[1, 0.5]]
    assert 0.0 <= first["hansards_aer"] <= 1.0
    assert math.isfinite(first["train_loss"])
    assert (work / "checkpoints" / "last.pt").is_file() and (work / "checkpoints" / "best.pt").is_file()
    assert "alignment loss" in caplog.text

    # Resuming continues from the saved step; a flag that would change the model is refused.
    assert train_main([*common, "--hours", "0.004"]) == 0
    second = json.loads((work / "curve.jsonl").read_text().splitlines()[-1])
    assert second["step"] > first["step"]
    assert second["guided_alignment"] == [[1, 0.5]]  # kept from config.json
    with pytest.raises(SystemExit, match="d_model"):
        train_main([*common, "--d-model", "64"])
    # The guided-alignment weight may change on a resume, and the curve keeps its history.
    assert train_main([*common, "--guided-alignment", "0.2", "--hours", "0.006"]) == 0
    third = json.loads((work / "curve.jsonl").read_text().splitlines()[-1])
    assert third["guided_alignment"] == [[1, 0.5], [second["step"] + 1, 0.2]]
    assert third["weights"] == "raw" and third["exponential_smoothing"] == []
    # Exponential smoothing may start on a resume: the average is what gets evaluated and saved.
    assert train_main([*common, "--exponential-smoothing", "0.5", "--hours", "0.008"]) == 0
    fourth = json.loads((work / "curve.jsonl").read_text().splitlines()[-1])
    assert fourth["weights"] == "smoothed" and fourth["exponential_smoothing"] == [[third["step"] + 1, 0.5]]
    last = torch.load(work / "checkpoints" / "last.pt", weights_only=False)
    assert last["smoothed"].keys() == last["model"].keys()
    weight = "model.encoder.layers.0.fc1.weight"
    assert not torch.equal(last["smoothed"][weight], last["model"][weight])

    # The best checkpoint exports to a served model directory whose attention the AER tool reads.
    model_dir, hf_dir = tmp_path / "model", tmp_path / "hf"
    export(work, model_dir, evaluate_model=False, hf_output=hf_dir)
    assert (model_dir / "vmap.txt").read_text(encoding="utf-8").startswith("\t")  # learned from its training pairs
    # The Hugging Face directory kept beside it holds the same weights (the bench's transformers column).
    from transformers import MarianMTModel

    best = torch.load(work / "checkpoints" / "best.pt", weights_only=False)
    assert torch.equal(MarianMTModel.from_pretrained(hf_dir).state_dict()[weight], best["model"][weight])
    card = (model_dir / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert f"weight 0.5 from step 1, then weight 0.2 from step {second['step'] + 1:,}:" in card
    assert "--guided-alignment 0." in card  # the exported checkpoint's own weight
    assert f"Exponential smoothing (`alinea.models.train.smoothing`), rate 0.5 from step {third['step'] + 1:,}" in card
    assert f"| {fourth['step']:,} |" in card and " ≈" in card
    assert set(aers := hansards_aer(model_dir, threads=1)) == {"argmax", "server"}
    assert all(0.0 <= aer <= 1.0 for aer in aers.values())
