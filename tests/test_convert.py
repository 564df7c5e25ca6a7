"""alinea-convert on the two forms OPUS-MT models are published in.

The Hugging Face form is what the tiny test model is built from (conftest's
tiny_model_dir). The OPUS-MT release form is built here: a tiny random-weight
Marian transformer saved the way Marian saves it (an .npz holding Marian's
parameter names and its config under "special:model.yml"), decoder.yml, a
joint vocabulary in Marian's YAML format and the two SentencePiece models,
zipped like the release zips on object.pouta.csc.fi.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from alinea.models.convert import convert, detect_input, language_pair_from_name, main
from alinea.models.manifest import Manifest, missing_files
from alinea.models.marian import joint_vocabulary, train_sentencepiece
from alinea.server.pipeline import Pipeline
from alinea.server.records import TranslationOptions
from alinea.server.registry import load_model
from alinea.server.translate import TranslatorSettings
from conftest import SEED_EN, SEED_FR

PREFIX = "opus.spm200-spm200"
NPZ = f"{PREFIX}.transformer-align.model1.npz.best-perplexity.npz"
VOCAB = f"{PREFIX}.vocab.yml"
RELEASE_ZIP = "opus-2020-02-26.zip"
SENTENCES = "Le Kremlin a reçu la délégation chinoise. Les entretiens ont duré deux jours."


# --- a tiny OPUS-MT release -------------------------------------------------


def marian_model_config(vocab_size: int) -> dict:
    """The config Marian stores in its .npz (a training run's options, as `marian` dumps them)."""
    return {
        "type": "transformer",
        "dim-vocabs": [vocab_size, vocab_size],
        "dim-emb": 32,
        "dim-rnn": 1024,
        "enc-type": "bidirectional",
        "enc-cell": "gru",
        "enc-cell-depth": 1,
        "enc-depth": 1,
        "dec-cell": "gru",
        "dec-cell-base-depth": 2,
        "dec-cell-high-depth": 1,
        "dec-depth": 1,
        "skip": False,
        "layer-normalization": False,
        "right-left": False,
        "input-types": [],
        "best-deep": False,
        "tied-embeddings": False,
        "tied-embeddings-src": False,
        "tied-embeddings-all": True,
        "transformer-heads": 2,
        "transformer-no-projection": False,
        "transformer-dim-ffn": 64,
        "transformer-ffn-depth": 2,
        "transformer-ffn-activation": "swish",
        "transformer-dim-aan": 2048,
        "transformer-aan-depth": 2,
        "transformer-aan-activation": "swish",
        "transformer-aan-nogate": False,
        "transformer-decoder-autoreg": "self-attention",
        "transformer-tied-layers": [],
        "transformer-guided-alignment-layer": "last",
        # Post-norm, OPUS-MT's convention: dropout, add, then normalise.
        "transformer-preprocess": "",
        "transformer-postprocess": "dan",
        "transformer-postprocess-emb": "d",
        "transformer-postprocess-top": "",
        "transformer-train-position-embeddings": False,
        "version": "v1.7.6 1d4ba73 2019-05-11 17:16:31 +0100",
    }


def marian_weights(config: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random parameters under the names Marian gives a transformer with tied embeddings.

    Marian stores matrices as (input, output), biases and layer-norm
    parameters as (1, n), and with --tied-embeddings-all one `Wemb` serves
    the encoder, the decoder and the output layer.
    """
    vocab, dim, ffn = config["dim-vocabs"][0], config["dim-emb"], config["transformer-dim-ffn"]
    weights: dict[str, np.ndarray] = {}

    def matrix(rows: int, cols: int) -> np.ndarray:
        return rng.normal(0.0, 0.2, (rows, cols)).astype(np.float32)

    def bias(n: int) -> np.ndarray:
        return rng.normal(0.0, 0.02, (1, n)).astype(np.float32)

    def layer_norm(scope: str) -> None:
        weights[f"{scope}_ln_scale"] = np.ones((1, dim), np.float32)
        weights[f"{scope}_ln_bias"] = np.zeros((1, dim), np.float32)

    def attention(scope: str) -> None:
        for p in "qkvo":
            weights[f"{scope}_W{p}"] = matrix(dim, dim)
            weights[f"{scope}_b{p}"] = bias(dim)
        layer_norm(f"{scope}_Wo")

    def feed_forward(scope: str) -> None:
        weights[f"{scope}_W1"] = matrix(dim, ffn)
        weights[f"{scope}_b1"] = bias(ffn)
        weights[f"{scope}_W2"] = matrix(ffn, dim)
        weights[f"{scope}_b2"] = bias(dim)
        layer_norm(f"{scope}_ffn")

    weights["Wemb"] = matrix(vocab, dim)
    for i in range(1, config["enc-depth"] + 1):
        attention(f"encoder_l{i}_self")
        feed_forward(f"encoder_l{i}_ffn")
    for i in range(1, config["dec-depth"] + 1):
        attention(f"decoder_l{i}_self")
        attention(f"decoder_l{i}_context")
        feed_forward(f"decoder_l{i}_ffn")
    weights["decoder_ff_logit_out_b"] = bias(vocab)
    return weights


def marian_config_entry(config: dict) -> np.ndarray:
    """The config as Marian keeps it in the .npz: a NUL-terminated char array."""
    text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return np.frombuffer(text.encode("utf-8") + b"\0", dtype=np.int8)


def marian_vocabulary(*spm_models: Path) -> list[str]:
    """A joint Marian vocabulary as OPUS-MT releases have it: the Hugging Face one without its final <pad>."""
    return joint_vocabulary(*spm_models)[:-1]


_PLAIN_YAML = re.compile(r"</s>|<unk>|\u2581[^\W\d_]*")


def vocabulary_yaml(tokens: list[str]) -> str:
    """Marian's vocab.yml: one `token: id` line each, tokens double-quoted when YAML needs it."""

    def key(token: str) -> str:
        if _PLAIN_YAML.fullmatch(token):
            return token
        return '"' + token.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "".join(f"{key(token)}: {i}\n" for i, token in enumerate(tokens))


def write_opus_mt_release(directory: Path, *, seed: int = 0) -> Path:
    """Write an unpacked OPUS-MT fr→en release with random weights into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    spm_work = directory / "spm-training"
    spm_work.mkdir()
    source_spm = train_sentencepiece(SEED_FR, spm_work / "source", 200)
    target_spm = train_sentencepiece(SEED_EN, spm_work / "target", 200)
    shutil.copyfile(source_spm, directory / "source.spm")
    shutil.copyfile(target_spm, directory / "target.spm")
    shutil.rmtree(spm_work)

    tokens = marian_vocabulary(directory / "source.spm", directory / "target.spm")
    (directory / VOCAB).write_text(vocabulary_yaml(tokens), encoding="utf-8")

    config = marian_model_config(len(tokens))
    weights = marian_weights(config, np.random.default_rng(seed))
    np.savez(directory / NPZ, **weights, **{"special:model.yml": marian_config_entry(config)})

    (directory / "decoder.yml").write_text(
        f"models:\n  - {NPZ}\nvocabs:\n  - {VOCAB}\n  - {VOCAB}\n"
        "beam-size: 6\nnormalize: 0.6\nword-penalty: 0\nmini-batch: 1\nmaxi-batch: 1\n"
        "maxi-batch-sort: src\nrelative-paths: true\n",
        encoding="utf-8",
    )
    (directory / "preprocess.sh").write_text(
        "#!/bin/bash\n# USAGE preprocess.sh source-langid target-langid spmodel < input > output\n"
        'sed -e "s/\\r//g" | spm_encode --model $3\n',
        encoding="utf-8",
    )
    (directory / "postprocess.sh").write_text(
        "#!/bin/bash\nsed 's/ //g;s/\u2581/ /g;s/^ *//;s/ *$//'\n", encoding="utf-8"
    )
    (directory / "README.md").write_text(
        "# opus-2020-02-26.zip\n\n* dataset: opus\n* model: transformer-align\n"
        "* source language(s): fr\n* target language(s): en\n"
        "* pre-processing: normalization + SentencePiece\n",
        encoding="utf-8",
    )
    return directory


def zip_release(directory: Path, zip_path: Path) -> Path:
    """Zip a release the way OPUS-MT publishes it: its files at the archive's top level."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.iterdir()):
            archive.write(path, path.name)
    return zip_path


@pytest.fixture(scope="module")
def opus_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_opus_mt_release(tmp_path_factory.mktemp("release") / "unpacked")


@pytest.fixture(scope="module")
def opus_zip(opus_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zip_release(opus_release, tmp_path_factory.mktemp("download") / RELEASE_ZIP)


# --- the release is what Marian would have written ---------------------------


def test_release_is_in_marian_format(opus_release):
    from ctranslate2.converters.marian import load_vocab

    assert detect_input(opus_release).kind == "opus-mt"
    decoder = yaml.safe_load((opus_release / "decoder.yml").read_text(encoding="utf-8"))
    assert decoder["models"] == [NPZ] and decoder["vocabs"] == [VOCAB, VOCAB]

    # The vocabulary reads the same with a YAML parser and with CTranslate2's line parser.
    text = (opus_release / VOCAB).read_text(encoding="utf-8")
    tokens = load_vocab(opus_release / VOCAB)
    assert yaml.safe_load(text) == {token: i for i, token in enumerate(tokens)}
    assert tokens[:2] == ["</s>", "<unk>"] and "<pad>" not in tokens
    assert {'"', "«", ","} <= set(tokens)  # pieces that need quoting made it through

    with np.load(opus_release / NPZ) as model:
        config = yaml.safe_load(model["special:model.yml"][:-1].tobytes())
        assert model["special:model.yml"][-1] == 0
        assert config["dim-vocabs"] == [len(tokens), len(tokens)]
        assert model["Wemb"].shape == (len(tokens), 32)
        assert model["encoder_l1_ffn_W1"].shape == (32, 64)
        assert model["decoder_ff_logit_out_b"].shape == (1, len(tokens))


# --- converting an OPUS-MT release ---------------------------------------------


def check_translates(model_dir: Path) -> None:
    model = load_model(model_dir, TranslatorSettings(intra_threads=1))
    document = Pipeline(model).translate(SENTENCES, TranslationOptions(beam_size=1))
    assert (document.source_language, document.target_language) == ("fr", "en")
    assert len(document.segments) == 2
    for segment in document.segments:
        assert segment.source_span.of(SENTENCES) == segment.source_text
        assert not segment.copied and segment.target_text and segment.score < 0
        for a in segment.alignments:
            assert 0 <= a.source.start < a.source.end <= len(segment.source_text)
            assert 0 <= a.target.start < a.target.end <= len(segment.target_text)
    rebuilt = SENTENCES[: document.segments[0].source_span.start]
    for segment, following in zip(document.segments, [*document.segments[1:], None]):
        end = following.source_span.start if following else len(SENTENCES)
        rebuilt += segment.source_text + SENTENCES[segment.source_span.end : end]
    assert rebuilt == SENTENCES


def check_opus_manifest(model_dir: Path, origin: Path) -> Manifest:
    assert missing_files(model_dir) == []
    manifest = Manifest.read(model_dir)
    assert (manifest.source_language, manifest.target_language) == ("fr", "en")
    assert not manifest.test_only
    assert manifest.provenance["format"] == "opus-mt"
    assert manifest.provenance["origin"] == str(origin)
    assert manifest.provenance["converter"].startswith("ctranslate2 ")
    assert manifest.provenance["converter"].endswith(" OpusMTConverter")
    return manifest


def test_convert_release_zip(opus_zip, tmp_path, capsys):
    out = tmp_path / "opus-fr-en"
    assert main([str(opus_zip), str(out), "--source-language", "fr", "--target-language", "en"]) == 0
    assert f"wrote {out}: opus-fr-en (fr→en, int8)" in capsys.readouterr().out
    manifest = check_opus_manifest(out, opus_zip)
    assert (manifest.name, manifest.quantization) == ("opus-fr-en", "int8")
    assert RELEASE_ZIP in manifest.description
    # The SentencePiece models are the release's own.
    with zipfile.ZipFile(opus_zip) as archive:
        assert (out / "source.spm").read_bytes() == archive.read("source.spm")
        assert (out / "target.spm").read_bytes() == archive.read("target.spm")
    check_translates(out)


def test_convert_unpacked_release(opus_release, tmp_path):
    out = tmp_path / "model"
    argv = [str(opus_release), str(out), "--source-language", "fr", "--target-language", "en",
            "--name", "opus-test", "--quantization", "float32", "--description", "unpacked"]
    assert main(argv) == 0
    manifest = check_opus_manifest(out, opus_release)
    assert (manifest.name, manifest.quantization, manifest.description) == ("opus-test", "float32", "unpacked")
    check_translates(out)


def test_source_eos_is_added_once(opus_release, tmp_path):
    # Marian reads a sentence's pieces followed by one </s>. The pipeline
    # appends that </s> itself (as for the Hugging Face conversions), so the
    # converted model must not have CTranslate2 add another.
    import ctranslate2
    from ctranslate2.converters import OpusMTConverter

    out = tmp_path / "model"
    assert main([str(opus_release), str(out), "--source-language", "fr", "--target-language", "en",
                 "--quantization", "float32"]) == 0
    assert json.loads((out / "config.json").read_text(encoding="utf-8"))["add_source_eos"] is False

    # Reference: CTranslate2's own conversion, which adds </s> to bare pieces.
    reference = tmp_path / "reference"
    OpusMTConverter(str(opus_release)).convert(str(reference), quantization="float32")
    pieces = load_model(out, TranslatorSettings()).tokenizer.encode("Le Kremlin a reçu la délégation.").tokens
    target = [["\u2581The", "\u2581Kremlin", "</s>"]]
    ours = ctranslate2.Translator(str(out), intra_threads=1).score_batch([[*pieces, "</s>"]], target)
    marian = ctranslate2.Translator(str(reference), intra_threads=1).score_batch([pieces], target)
    assert ours[0].log_probs == pytest.approx(marian[0].log_probs, abs=1e-5)


# --- the command's errors ---------------------------------------------------------


def test_neither_format_is_refused(tmp_path, capsys):
    source = tmp_path / "downloads"
    source.mkdir()
    (source / "README.md").write_text("not a model\n", encoding="utf-8")
    out = tmp_path / "model"
    assert main([str(source), str(out), "--source-language", "fr", "--target-language", "en"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alinea-convert: ")
    assert "config.json + vocab.json" in err and "*.npz + decoder.yml" in err
    assert not out.exists()


def test_missing_source_is_refused(tmp_path, capsys):
    assert main([str(tmp_path / "nope.zip"), str(tmp_path / "model"), "--source-language", "fr",
                 "--target-language", "en"]) == 2
    assert "no such directory or .zip file" in capsys.readouterr().err


def test_release_without_spm_is_refused(opus_release, tmp_path, capsys):
    source = tmp_path / "release"
    shutil.copytree(opus_release, source)
    (source / "target.spm").unlink()
    out = tmp_path / "model"
    assert main([str(source), str(out), "--source-language", "fr", "--target-language", "en"]) == 2
    assert "target.spm is missing" in capsys.readouterr().err
    # Nothing half-written is left behind to block the next attempt.
    assert not out.exists() or not any(out.iterdir())


def test_existing_output_needs_force(opus_release, tmp_path, capsys):
    out = tmp_path / "model"
    out.mkdir()
    (out / "stale.txt").write_text("old\n", encoding="utf-8")
    argv = [str(opus_release), str(out), "--source-language", "fr", "--target-language", "en"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "exists and is not empty" in err and "--force" in err
    assert (out / "stale.txt").is_file() and not (out / "manifest.json").exists()

    assert main([*argv, "--force"]) == 0
    assert not (out / "stale.txt").exists()
    check_opus_manifest(out, opus_release)


def test_empty_output_dir_is_fine(opus_release, tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    assert main([str(opus_release), str(out), "--source-language", "fr", "--target-language", "en"]) == 0
    assert missing_files(out) == []


def test_language_pair_from_name():
    assert language_pair_from_name("opus-mt-fr-en") == ("fr", "en")
    assert language_pair_from_name("Helsinki-NLP/opus-mt-fr-en") == ("fr", "en")
    assert language_pair_from_name("/data/Opus-MT-FR-EN/opus-2020-02-26.zip") == ("fr", "en")
    assert language_pair_from_name("models/opus-mt-deu-eng.v2") == ("deu", "eng")
    assert language_pair_from_name("Helsinki-NLP/opus-mt-tc-big-fr-en") == ("fr", "en")
    assert language_pair_from_name("Helsinki-NLP/opus-mt-tc-big-en-zle") == ("en", "zle")
    # Multilingual models name no single pair.
    assert language_pair_from_name("Helsinki-NLP/opus-mt-en-ROMANCE") is None
    assert language_pair_from_name("Helsinki-NLP/opus-mt-tc-bible-big-deu_eng_fra_por_spa-en") is None
    assert language_pair_from_name("opus-2020-02-26.zip") is None


def test_language_pair_guessed_from_source_folder(opus_release, tmp_path):
    download = tmp_path / "opus-mt-fr-en"
    zip_path = zip_release(opus_release, download / RELEASE_ZIP)
    out = tmp_path / "model"
    assert main([str(zip_path), str(out)]) == 0
    manifest = Manifest.read(out)
    assert (manifest.source_language, manifest.target_language) == ("fr", "en")


def test_language_pair_guessed_from_output_name(opus_release, tmp_path):
    out = tmp_path / "opus-mt-fr-en"
    assert main([str(opus_release), str(out)]) == 0
    manifest = Manifest.read(out)
    assert (manifest.name, manifest.source_language, manifest.target_language) == ("opus-mt-fr-en", "fr", "en")


def test_a_flag_overrides_the_guess(opus_release, tmp_path):
    out = tmp_path / "opus-mt-fr-en"
    assert main([str(opus_release), str(out), "--target-language", "en-GB"]) == 0
    manifest = Manifest.read(out)
    assert (manifest.source_language, manifest.target_language) == ("fr", "en-GB")


def test_unguessable_language_pair_is_an_argparse_error(opus_release, tmp_path, capsys):
    out = tmp_path / "model"
    with pytest.raises(SystemExit) as exit_info:
        main([str(opus_release), str(out), "--source-language", "fr"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: alinea-convert")
    assert "--source-language and --target-language" in err
    assert not out.exists()


def test_unknown_quantization_is_rejected(opus_release, tmp_path, capsys):
    out = tmp_path / "model"
    with pytest.raises(SystemExit) as exit_info:
        main([str(opus_release), str(out), "--source-language", "fr", "--target-language", "en",
              "--quantization", "float8"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'float8'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="quantization must be one of int8, int8_float32, int16, float32"):
        convert(opus_release, out, source_language="fr", target_language="en", quantization="float8")
    assert not out.exists()


# --- the Hugging Face form ------------------------------------------------------


def test_hugging_face_manifest(tiny_model_dir):
    manifest = Manifest.read(tiny_model_dir)
    assert manifest.provenance["format"] == "transformers"
    assert manifest.provenance["converter"].endswith(" TransformersConverter")
    assert manifest.test_only
