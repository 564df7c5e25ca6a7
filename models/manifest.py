"""The manifest that makes a directory an alinea model.

A model directory holds CTranslate2's files (model.bin, config.json,
shared_vocabulary.json), the SentencePiece models of both sides
(source.spm, target.spm) and manifest.json. The manifest says what the
model translates and where its weights came from, so the registry can serve
it without guessing and ListModels can tell users what they get.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

MANIFEST = "manifest.json"
REQUIRED_FILES = ("model.bin", "config.json", "source.spm", "target.spm", MANIFEST)


@dataclass(frozen=True)
class Manifest:
    name: str
    source_language: str
    target_language: str
    quantization: str
    description: str = ""
    # Where the weights came from: origin, format, converter and version.
    provenance: dict[str, str] = field(default_factory=dict)
    # Random-weight models built for tests: servable, but they say so.
    test_only: bool = False
    # Beam search divides a hypothesis's log-probability by its length to
    # this power (CTranslate2's and transformers' length_penalty). Tuned per
    # model: a model that drops content gains from favouring longer outputs
    # (python -m alinea.models.train.tune).
    length_penalty: float = 1.0

    def write(self, model_dir: Path) -> None:
        path = Path(model_dir) / MANIFEST
        path.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, model_dir: Path) -> "Manifest":
        """Read and check model_dir/manifest.json; ValueError says what is wrong."""
        path = Path(model_dir) / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"{model_dir}: no {MANIFEST}; convert the model with alinea-convert") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown fields {sorted(unknown)}")
        missing = {"name", "source_language", "target_language", "quantization"} - set(data)
        if missing:
            raise ValueError(f"{path}: missing fields {sorted(missing)}")
        penalty = data.get("length_penalty", 1.0)
        if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not 0 <= penalty <= 10:
            raise ValueError(f"{path}: length_penalty must be a number from 0 to 10, not {penalty!r}")
        return cls(**data)


def missing_files(model_dir: Path) -> list[str]:
    """Files a servable model directory lacks (empty when complete)."""
    return [name for name in REQUIRED_FILES if not (Path(model_dir) / name).is_file()]
