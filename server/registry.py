"""Find model directories, load them once, and pick one per request.

A model directory is any folder with a manifest.json (see
alinea.models.manifest). The registry looks in the models shipped with the
package and in every --model-dir given: each is either a model directory
itself or a folder of model directories. Every model is loaded at start-up,
so a broken one stops the server with a clear message instead of failing
the first request that needs it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from alinea.models.manifest import MANIFEST, Manifest, missing_files
from alinea.server.tokenize import SourceTokenizer, TargetDetokenizer
from alinea.server.translate import Translator, TranslatorSettings

log = logging.getLogger(__name__)



class ModelError(Exception):
    """A model directory that cannot be served; the message says why."""


class ModelNotFound(LookupError):
    """No model for the request; the message says what is available."""


@dataclass(frozen=True)
class LoadedModel:
    manifest: Manifest
    path: Path
    translator: Translator
    tokenizer: SourceTokenizer
    detokenizer: TargetDetokenizer


def shipped_model_root() -> Path:
    """The package's own models/ folder (the repository's models/ in a checkout)."""
    import alinea.models

    return Path(alinea.models.__file__).resolve().parent


def discover(roots: list[Path]) -> list[Path]:
    """Model directories under roots: a root with a manifest, or its direct subfolders with one."""
    found: list[Path] = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            raise ModelError(f"model directory {root} does not exist")
        if (root / MANIFEST).is_file():
            found.append(root)
        else:
            found.extend(sorted(p for p in root.iterdir() if (p / MANIFEST).is_file()))
    return found


def load_model(path: Path, settings: TranslatorSettings) -> LoadedModel:
    missing = missing_files(path)
    if missing:
        raise ModelError(f"{path}: not a complete model directory, missing {', '.join(missing)}")
    try:
        manifest = Manifest.read(path)
    except ValueError as exc:
        raise ModelError(str(exc)) from None
    try:
        translator = Translator(path, replace(settings, length_penalty=manifest.length_penalty))
        tokenizer = SourceTokenizer(path / "source.spm")
        detokenizer = TargetDetokenizer(path / "target.spm")
    except Exception as exc:  # noqa: BLE001 - CTranslate2 reports a bad model.bin in many ways
        raise ModelError(f"{path}: cannot load model: {type(exc).__name__}: {exc}") from None
    return LoadedModel(manifest, path, translator, tokenizer, detokenizer)


def primary_subtag(code: str) -> str:
    """'fr-FR' → 'fr': models are chosen by language, not region or script."""
    return code.strip().replace("_", "-").split("-")[0].lower()


class ModelRegistry:
    def __init__(self, models: list[LoadedModel]):
        if not models:
            raise ModelError(
                "no models found: convert one with `alinea-convert` and pass --model-dir, "
                "or build the test model with `python -m alinea.models.tiny`"
            )
        self._by_name: dict[str, LoadedModel] = {}
        for model in models:
            name = model.manifest.name
            if name in self._by_name:
                raise ModelError(f"two models are named {name!r}: {self._by_name[name].path} and {model.path}")
            self._by_name[name] = model
        # Per language pair: trained models before test-only ones, then the
        # one found last: a --model-dir model wins over a shipped one.
        self._defaults: dict[tuple[str, str], LoadedModel] = {}
        ranked = sorted(enumerate(models), key=lambda im: (im[1].manifest.test_only, -im[0]))
        for _, model in ranked:
            self._defaults.setdefault(self._pair(model), model)

    @classmethod
    def load(cls, roots: list[Path], settings: TranslatorSettings = TranslatorSettings()) -> "ModelRegistry":
        models = []
        for path in discover(roots):
            model = load_model(path, settings)
            log.info("loaded model %s (%s) from %s%s", model.manifest.name, "→".join(cls._pair(model)), path,
                     ", with its vocabulary map" if model.translator.vocabulary_map else "")
            models.append(model)
        return cls(models)

    @staticmethod
    def _pair(model: LoadedModel) -> tuple[str, str]:
        return primary_subtag(model.manifest.source_language), primary_subtag(model.manifest.target_language)

    @property
    def models(self) -> list[LoadedModel]:
        return sorted(self._by_name.values(), key=lambda m: m.manifest.name)

    def is_default(self, model: LoadedModel) -> bool:
        return self._defaults.get(self._pair(model)) is model

    def resolve(self, source_language: str, target_language: str, name: str = "") -> LoadedModel:
        """The model for a request. ModelNotFound or ValueError say what to change."""
        source, target = primary_subtag(source_language), primary_subtag(target_language)
        if not target:
            raise ValueError("target_language_code is required, e.g. \"en\"")
        if name:
            model = self._by_name.get(name)
            if model is None:
                raise ModelNotFound(f"no model named {name!r}; available: {', '.join(sorted(self._by_name))}")
            pair = self._pair(model)
            if target != pair[1] or (source and source != pair[0]):
                raise ValueError(f"model {name!r} translates {pair[0]}→{pair[1]}, not {source or '?'}→{target}")
            return model
        if not source:
            sources = sorted({s for s, t in self._defaults if t == target})
            if not sources:
                raise ModelNotFound(f"no model translates into {target!r}; pairs served: {self._pairs_text()}")
            if len(sources) > 1:
                raise ValueError(f"set source_language_code: models into {target!r} exist from {', '.join(sources)}")
            source = sources[0]
        model = self._defaults.get((source, target))
        if model is None:
            raise ModelNotFound(f"no model for {source}→{target}; pairs served: {self._pairs_text()}")
        return model

    def _pairs_text(self) -> str:
        return ", ".join(f"{s}→{t}" for s, t in sorted(self._defaults))
