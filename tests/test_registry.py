import json
import shutil

import pytest

from alinea.models.manifest import Manifest
from alinea.server.registry import ModelError, ModelNotFound, ModelRegistry, discover, load_model, primary_subtag
from alinea.server.translate import TranslatorSettings


def test_primary_subtag():
    assert primary_subtag("fr-FR") == "fr"
    assert primary_subtag(" EN_us ") == "en"
    assert primary_subtag("") == ""


def test_resolve(tiny_model):
    registry = ModelRegistry([tiny_model])
    assert registry.resolve("fr", "en") is tiny_model
    assert registry.resolve("fr-CA", "EN") is tiny_model
    assert registry.resolve("", "en") is tiny_model  # the only source language into English
    assert registry.resolve("fr", "en", "tiny-random-fr-en") is tiny_model
    assert registry.is_default(tiny_model)
    with pytest.raises(ModelNotFound, match="no model for fr→de; pairs served: fr→en"):
        registry.resolve("fr", "de")
    with pytest.raises(ModelNotFound, match="no model named 'nope'"):
        registry.resolve("fr", "en", "nope")
    with pytest.raises(ValueError, match="translates fr→en, not de→en"):
        registry.resolve("de", "en", "tiny-random-fr-en")
    with pytest.raises(ValueError, match="target_language_code is required"):
        registry.resolve("fr", "")


def test_empty_registry_says_what_to_do():
    with pytest.raises(ModelError, match="alinea-convert"):
        ModelRegistry([])


def test_discover_accepts_a_model_dir_or_its_parent(tiny_model_dir, tmp_path):
    assert discover([tiny_model_dir]) == [tiny_model_dir]
    assert discover([tiny_model_dir.parent]) == [tiny_model_dir]
    with pytest.raises(ModelError, match="does not exist"):
        discover([tmp_path / "missing"])


def test_broken_model_directories_give_clear_errors(tiny_model_dir, tmp_path):
    incomplete = tmp_path / "incomplete"
    shutil.copytree(tiny_model_dir, incomplete)
    (incomplete / "model.bin").unlink()
    with pytest.raises(ModelError, match="missing model.bin"):
        load_model(incomplete, TranslatorSettings())

    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny_model_dir, corrupt)
    (corrupt / "model.bin").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load model"):
        load_model(corrupt, TranslatorSettings())

    bad_manifest = tmp_path / "bad-manifest"
    shutil.copytree(tiny_model_dir, bad_manifest)
    (bad_manifest / "manifest.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(ModelError, match="missing fields"):
        load_model(bad_manifest, TranslatorSettings())


def test_duplicate_names_are_refused(tiny_model):
    with pytest.raises(ModelError, match="two models are named"):
        ModelRegistry([tiny_model, tiny_model])


def test_trained_models_are_preferred_over_test_models(tiny_model):
    import dataclasses

    trained = dataclasses.replace(
        tiny_model, manifest=dataclasses.replace(tiny_model.manifest, name="z-trained", test_only=False)
    )
    registry = ModelRegistry([tiny_model, trained])
    assert registry.resolve("fr", "en") is trained
    assert not registry.is_default(tiny_model)


def test_a_model_given_later_is_the_default(tiny_model):
    import dataclasses

    def trained(name):
        return dataclasses.replace(tiny_model, manifest=dataclasses.replace(tiny_model.manifest, name=name, test_only=False))

    shipped, given = trained("shipped"), trained("given")
    assert ModelRegistry([shipped, given]).resolve("fr", "en") is given
    assert ModelRegistry([given, shipped]).resolve("fr", "en") is shipped


def test_manifest_round_trip(tmp_path):
    manifest = Manifest("m", "fr", "en", "int8", "d", {"origin": "x"})
    manifest.write(tmp_path)
    assert Manifest.read(tmp_path) == manifest
    (tmp_path / "manifest.json").write_text('{"name": "m", "source_language": "fr", "target_language": "en", '
                                            '"quantization": "int8", "colour": "red"}')
    with pytest.raises(ValueError, match="unknown fields"):
        Manifest.read(tmp_path)


def test_the_manifest_length_penalty_reaches_the_translator(tiny_model_dir, tmp_path):
    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "model")
    data = json.loads((model_dir / "manifest.json").read_text())
    # Absent (a manifest written before the field existed): 1.0, no penalty.
    del data["length_penalty"]
    (model_dir / "manifest.json").write_text(json.dumps(data))
    assert load_model(model_dir, TranslatorSettings()).translator.settings.length_penalty == 1.0
    (model_dir / "manifest.json").write_text(json.dumps({**data, "length_penalty": 2.0}))
    assert load_model(model_dir, TranslatorSettings()).translator.settings.length_penalty == 2.0
    for bad in ("2", -1, True, None):
        (model_dir / "manifest.json").write_text(json.dumps({**data, "length_penalty": bad}))
        with pytest.raises(ModelError, match="length_penalty must be a number"):
            load_model(model_dir, TranslatorSettings())
