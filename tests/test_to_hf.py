"""alinea.models.to_hf: a served CTranslate2 model back to a Hugging Face MarianMT directory.

The tiny random model (conftest's tiny_model_dir, int8) is exported, then
checked three ways: converting the export again with CTranslate2's own
converter gives back the same model.bin (so every variable landed where the
converter takes it from), a float round trip is exact, and transformers and
CTranslate2 compute the same thing from the two forms.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from alinea.models.convert import convert
from alinea.models.to_hf import main, read_model_bin, to_hf
from conftest import SEED_FR

MAX_STEPS = 12


@pytest.fixture(scope="module")
def hf_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return to_hf(tiny_model_dir, tmp_path_factory.mktemp("to_hf") / "hf")


@pytest.fixture(scope="module")
def float_ct2_dir(hf_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export converted back by the project's converter, keeping float32 weights."""
    out = tmp_path_factory.mktemp("to_hf") / "ct2-float32"
    convert(hf_dir, out, source_language="fr", target_language="en", quantization="float32")
    return out


def french_sentences(n: int = 6) -> list[str]:
    """The seed article's first sentences (its lines are paragraphs)."""
    text = SEED_FR.read_text(encoding="utf-8")
    sentences = [s for s in re.split(r"(?<=[.!?»])\s+", text) if len(s) >= 20]
    assert len(sentences) >= n
    return sentences[:n]


def hf_state(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(path / "model.safetensors")


def test_requantizing_the_export_gives_back_the_served_weights(tiny_model_dir: Path, hf_dir: Path, tmp_path: Path):
    """int8 → float (to_hf) → int8 (CTranslate2's converter) reproduces every int8 weight exactly.

    Each row's largest value is ±127 by construction, so quantizing q / s
    again yields q; a misplaced tensor (k and v swapped, a transposed weight,
    a shifted vocabulary) would not come back in its place.
    """
    convert(hf_dir, tmp_path / "ct2", source_language="fr", target_language="en", quantization="int8")
    served, again = read_model_bin(tiny_model_dir / "model.bin"), read_model_bin(tmp_path / "ct2" / "model.bin")
    assert (again.spec, again.revision) == (served.spec, served.revision)
    assert sorted(again.variables) == sorted(served.variables)
    for name, value in served.variables.items():
        if name.endswith("_scale"):
            np.testing.assert_allclose(again.variables[name], value, rtol=1e-6, err_msg=name)
        else:
            assert again.variables[name].dtype == value.dtype, name
            np.testing.assert_array_equal(again.variables[name], value, err_msg=name)
    for name in ("config.json", "shared_vocabulary.json", "source.spm", "target.spm"):
        assert (tmp_path / "ct2" / name).read_bytes() == (tiny_model_dir / name).read_bytes(), name


def test_float_round_trip_is_exact(hf_dir: Path, float_ct2_dir: Path, tmp_path: Path):
    again = to_hf(float_ct2_dir, tmp_path / "hf-again")
    first, second = hf_state(hf_dir), hf_state(again)
    assert sorted(first) == sorted(second)
    for name, tensor in first.items():
        assert tensor.dtype == second[name].dtype and tensor.equal(second[name]), name
    for name in ("config.json", "generation_config.json", "vocab.json", "tokenizer_config.json"):
        assert (again / name).read_text(encoding="utf-8") == (hf_dir / name).read_text(encoding="utf-8"), name


@pytest.mark.parametrize("quantization", ["int16", "float16", "bfloat16", "int8_float16"])
def test_other_weight_types(quantization: str, hf_dir: Path, tmp_path: Path):
    """int16 (one scale per matrix), float16 and bfloat16 variables read back to the weights they round."""
    import ctranslate2

    ctranslate2.converters.TransformersConverter(str(hf_dir)).convert(str(tmp_path / "ct2"), quantization=quantization)
    for name in ("source.spm", "target.spm"):
        shutil.copyfile(hf_dir / name, tmp_path / "ct2" / name)
    stored = set(read_model_bin(tmp_path / "ct2" / "model.bin").dtypes.values())
    assert quantization.split("_")[-1] in stored
    first, again = hf_state(hf_dir), hf_state(to_hf(tmp_path / "ct2", tmp_path / "hf"))
    for name, tensor in first.items():
        largest = float(tensor.abs().max()) or 1.0
        assert float((again[name] - tensor).abs().max()) <= largest / 2**7, name


def test_export_is_laid_out_like_the_training_export(hf_dir: Path, tiny_model_dir: Path):
    from transformers import MarianConfig

    config = MarianConfig.from_pretrained(hf_dir)
    tokens = json.loads((tiny_model_dir / "shared_vocabulary.json").read_text(encoding="utf-8"))
    # tiny.py's marian_config(size, d_model=32, layers=(1, 1), heads=2, ffn_dim=64, max_positions=1024)
    assert (config.d_model, config.encoder_layers, config.decoder_layers, config.encoder_attention_heads,
            config.encoder_ffn_dim, config.max_position_embeddings) == (32, 1, 1, 2, 64, 1024)
    assert config.vocab_size == len(tokens) + 1
    assert config.activation_function == "swish" and config.scale_embedding
    assert config.pad_token_id == config.decoder_start_token_id == len(tokens)  # <pad>, appended last
    assert config.eos_token_id == tokens.index("</s>") == 0
    vocab = json.loads((hf_dir / "vocab.json").read_text(encoding="utf-8"))
    assert sorted(vocab, key=vocab.__getitem__) == [*tokens, "<pad>"]
    state = hf_state(hf_dir)
    assert not state["model.shared.weight"][-1].any()  # <pad>: CTranslate2's zero start embedding


@pytest.mark.parametrize("ct2", ["served", "float32 conversion of the export"])
def test_transformers_and_ctranslate2_agree(ct2: str, hf_dir: Path, tiny_model_dir: Path, float_ct2_dir: Path):
    """Same tokenization, same per-step log-probabilities, same greedy output.

    Against the served int8 model (CTranslate2 dequantizing it itself, as
    compute_type float32 does), this checks the export against what alinea
    serves: settings such as the activation or the embedding scale come from
    there. Against the float conversion of the export, it checks that the
    export converts back to the model transformers runs.
    """
    import ctranslate2
    import torch
    from transformers import MarianMTModel, MarianTokenizer

    from alinea.server.tokenize import EOS, SourceTokenizer

    sentences = french_sentences()
    tokenizer = MarianTokenizer.from_pretrained(hf_dir)
    model = MarianMTModel.from_pretrained(hf_dir).eval()
    model_dir = tiny_model_dir if ct2 == "served" else float_ct2_dir
    translator = ctranslate2.Translator(str(model_dir), device="cpu", compute_type="float32")
    pipeline_tokenizer = SourceTokenizer(model_dir / "source.spm")
    sources = [pipeline_tokenizer.encode(s).tokens + [EOS] for s in sentences]
    inputs = tokenizer(sentences, return_tensors="pt", padding=True)
    for ids, mask, tokens in zip(inputs.input_ids, inputs.attention_mask, sources):
        assert tokenizer.convert_ids_to_tokens(ids[mask.bool()].tolist()) == tokens

    results = translator.translate_batch(sources, beam_size=1, max_decoding_length=MAX_STEPS, return_scores=False)
    with torch.inference_mode():
        generated = model.generate(**inputs, num_beams=1, do_sample=False, max_new_tokens=MAX_STEPS,
                                   forced_eos_token_id=None)
    pad, eos = model.config.pad_token_id, model.config.eos_token_id
    for row, result in zip(generated.tolist(), results):
        assert row[0] == model.config.decoder_start_token_id
        hf_tokens = tokenizer.convert_ids_to_tokens([i for i in row[1:] if i not in (pad, eos)])
        assert hf_tokens == result.hypotheses[0]
        assert len(hf_tokens) > 3  # something was decoded

    # Log-probabilities of each target token (and of </s> after it), teacher-forced.
    targets = [r.hypotheses[0] for r in results]
    ct2_scores = translator.score_batch(sources, targets)
    for i, (target, scored) in enumerate(zip(targets, ct2_scores)):
        target_ids = tokenizer.convert_tokens_to_ids(target) + [eos]
        decoder_input = torch.tensor([[model.config.decoder_start_token_id] + target_ids[:-1]])
        with torch.inference_mode():
            logits = model(input_ids=inputs.input_ids[i : i + 1], attention_mask=inputs.attention_mask[i : i + 1],
                           decoder_input_ids=decoder_input).logits[0]
        # CTranslate2's vocabulary has no <pad> (MarianMTLoader drops it): normalise over the same tokens.
        log_probs = torch.log_softmax(logits[:, :pad], dim=-1)
        hf = log_probs[torch.arange(len(target_ids)), torch.tensor(target_ids)].numpy()
        np.testing.assert_allclose(hf, np.array(scored.log_probs), rtol=0, atol=2e-5)


def write_model_bin(path: Path, spec: str, variables: int = 0) -> None:
    """A model.bin with only a header: binary version 6, spec, revision 1, no variables or aliases."""
    name = spec.encode() + b"\0"
    path.write_bytes(struct.pack("<I", 6) + struct.pack("<H", len(name)) + name + struct.pack("<III", 1, variables, 0))


@pytest.fixture
def copy_of_tiny(tiny_model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def test_directory_without_model_bin(copy_of_tiny: Path, tmp_path: Path):
    (copy_of_tiny / "model.bin").unlink()
    with pytest.raises(ValueError, match=r"model\.bin missing"):
        to_hf(copy_of_tiny, tmp_path / "out")
    with pytest.raises(ValueError, match="not a directory"):
        to_hf(tmp_path / "nowhere", tmp_path / "out")


def test_other_spec_is_refused(copy_of_tiny: Path, tmp_path: Path):
    write_model_bin(copy_of_tiny / "model.bin", "WhisperSpec")
    with pytest.raises(ValueError, match="spec 'WhisperSpec'.*TransformerSpec"):
        to_hf(copy_of_tiny, tmp_path / "out")


def test_vocabulary_must_match_the_embedding_rows(copy_of_tiny: Path, tmp_path: Path):
    source, target = (copy_of_tiny / "source.spm").read_bytes(), (copy_of_tiny / "target.spm").read_bytes()
    (copy_of_tiny / "source.spm").write_bytes(target)  # the joint vocabulary lists source pieces first
    (copy_of_tiny / "target.spm").write_bytes(source)
    with pytest.raises(ValueError, match="token ids would not match"):
        to_hf(copy_of_tiny, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # checked before anything is written


def test_truncated_model_bin(copy_of_tiny: Path, tmp_path: Path):
    data = (copy_of_tiny / "model.bin").read_bytes()
    (copy_of_tiny / "model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        to_hf(copy_of_tiny, tmp_path / "out")
    write_model_bin(copy_of_tiny / "model.bin", "TransformerSpec", variables=3)
    with pytest.raises(ValueError, match="truncated"):
        read_model_bin(copy_of_tiny / "model.bin")


def test_cli(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main([str(tiny_model_dir), str(tmp_path / "hf")]) == 0
    assert (tmp_path / "hf" / "model.safetensors").is_file()
    assert main([str(tiny_model_dir), str(tmp_path / "hf")]) == 2  # not empty, no --force
    assert "--force" in capsys.readouterr().err
    assert main([str(tmp_path), str(tmp_path / "other")]) == 2
    assert "model.bin" in capsys.readouterr().err
