"""Turn a Marian model into an alinea model directory with CTranslate2's converters.

Two inputs are accepted, the two forms OPUS-MT models are published in:

* a Hugging Face Marian directory (config.json, model weights, source.spm,
  target.spm, vocab.json), e.g. a local copy of Helsinki-NLP/opus-mt-fr-en;
  converted by ``ctranslate2.converters.TransformersConverter``;
* an OPUS-MT release (the .zip, or the directory it unpacks to, holding a
  Marian ``*.npz``, ``decoder.yml``, ``*.vocab.yml`` and the .spm files);
  converted by ``ctranslate2.converters.OpusMTConverter``.

Usage::

    alinea-convert ~/opus-mt-fr-en models/opus-mt-fr-en
    alinea-convert opus-2020-02-26.zip models/opus-mt-fr-en --source-language fr --target-language en
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from alinea.models.manifest import Manifest

QUANTIZATIONS = ("int8", "int8_float32", "int16", "float32")
# Also the Tatoeba-Challenge names, "opus-mt-tc-big-fr-en"; multilingual ones
# ("opus-mt-en-ROMANCE", "opus-mt-tc-bible-big-deu_eng_fra-en") name no pair.
_PAIR_IN_NAME = re.compile(r"opus-mt-(?:tc-(?:[a-z]+-)*)?([a-z]{2,3})-([a-z]{2,3})(?![a-z_])")


@dataclass(frozen=True)
class ConversionInput:
    kind: str  # "transformers" or "opus-mt"
    path: Path


def detect_input(path: Path) -> ConversionInput:
    """Say which converter fits `path`, or raise ValueError naming what is missing."""
    if (path / "config.json").is_file() and (path / "vocab.json").is_file():
        return ConversionInput("transformers", path)
    if list(path.glob("*.npz")) and (path / "decoder.yml").is_file():
        return ConversionInput("opus-mt", path)
    raise ValueError(
        f"{path}: neither a Hugging Face Marian directory (config.json + vocab.json) "
        "nor an OPUS-MT release (*.npz + decoder.yml)"
    )


def language_pair_from_name(name: str) -> tuple[str, str] | None:
    """('fr', 'en') for names like 'opus-mt-fr-en' or 'Helsinki-NLP/opus-mt-fr-en'."""
    match = _PAIR_IN_NAME.search(name.lower())
    return (match.group(1), match.group(2)) if match else None


def _no_automatic_source_eos(model_dir: Path) -> None:
    """Turn off CTranslate2's own </s> after each source sentence.

    OpusMTConverter sets add_source_eos, TransformersConverter does not; the
    pipeline ends every sentence with </s> itself, so an OPUS-MT model would
    otherwise see two.
    """
    path = model_dir / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["add_source_eos"] = False
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def convert(
    source: Path,
    output_dir: Path,
    *,
    source_language: str,
    target_language: str,
    name: str | None = None,
    quantization: str = "int8",
    description: str = "",
    test_only: bool = False,
    force: bool = False,
) -> Manifest:
    """Convert `source` (directory or OPUS-MT .zip) into a servable model directory."""
    import ctranslate2
    from ctranslate2 import converters

    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, not {quantization!r}")
    source, output_dir = Path(source), Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not force:
        raise FileExistsError(f"{output_dir} exists and is not empty; pass --force to replace it")
    with tempfile.TemporaryDirectory(prefix="alinea-convert-") as tmp:
        if source.is_file() and zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as archive:
                archive.extractall(tmp)
            source_dir = Path(tmp)
        elif source.is_dir():
            source_dir = source
        else:
            raise FileNotFoundError(f"{source}: no such directory or .zip file")
        found = detect_input(source_dir)
        for spm in ("source.spm", "target.spm"):
            if not (source_dir / spm).is_file():
                raise FileNotFoundError(f"{source_dir / spm} is missing: alinea tokenizes with SentencePiece")
        if found.kind == "transformers":
            converter = converters.TransformersConverter(str(source_dir))
        else:
            converter = converters.OpusMTConverter(str(source_dir))
        converter.convert(str(output_dir), quantization=quantization, force=True)
        if found.kind == "opus-mt":
            _no_automatic_source_eos(output_dir)
        for spm in ("source.spm", "target.spm"):
            shutil.copyfile(source_dir / spm, output_dir / spm)
    manifest = Manifest(
        name=name or output_dir.name,
        source_language=source_language,
        target_language=target_language,
        quantization=quantization,
        description=description or f"{found.kind} Marian model converted from {source.name}",
        provenance={
            "origin": str(source),
            "format": found.kind,
            "converter": f"ctranslate2 {ctranslate2.__version__} "
            + ("TransformersConverter" if found.kind == "transformers" else "OpusMTConverter"),
        },
        test_only=test_only,
    )
    manifest.write(output_dir)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="alinea-convert",
        description="Convert a Hugging Face Marian directory or an OPUS-MT release (.zip) "
        "into an alinea model directory (CTranslate2 + SentencePiece + manifest).",
    )
    parser.add_argument("source", type=Path, help="Marian directory or OPUS-MT .zip")
    parser.add_argument("output_dir", type=Path, help="model directory to write, e.g. models/opus-mt-fr-en")
    parser.add_argument("--source-language", help="BCP-47 code; guessed from an 'opus-mt-xx-yy' name")
    parser.add_argument("--target-language", help="BCP-47 code; guessed from an 'opus-mt-xx-yy' name")
    parser.add_argument("--name", help="model name served by ListModels (default: the output folder's name)")
    parser.add_argument("--quantization", default="int8", choices=QUANTIZATIONS, help="weight type (default int8)")
    parser.add_argument("--description", default="", help="one line shown by `alinea models`")
    parser.add_argument("--force", action="store_true", help="replace an existing output directory")
    args = parser.parse_args(argv)

    guessed = language_pair_from_name(str(args.source.resolve())) or language_pair_from_name(args.output_dir.name)
    source_language = args.source_language or (guessed and guessed[0])
    target_language = args.target_language or (guessed and guessed[1])
    if not (source_language and target_language):
        parser.error("cannot tell the language pair from the names; pass --source-language and --target-language")
    try:
        manifest = convert(
            args.source,
            args.output_dir,
            source_language=source_language,
            target_language=target_language,
            name=args.name,
            quantization=args.quantization,
            description=args.description,
            force=args.force,
        )
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"alinea-convert: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output_dir}: {manifest.name} ({manifest.source_language}→{manifest.target_language}, {manifest.quantization})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
