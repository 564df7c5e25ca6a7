"""Corpus preparation: normalisation, filtering, deduplication and the held-out split.

The training corpora write French with ASCII apostrophes and double quotes
(the Hansard copy almost exclusively), while news text, FLORES and the seed
article write ``’`` and ``« … »``. Rather than asking every caller to
rewrite its input, half of the French training sentences are given the
typographic forms (:func:`typographic_variant`), so the model sees both
and inference needs no special preprocessing. :func:`normalize_source` is
the only normalisation applied to French at training time; it is safe,
but not required, to apply it to input at inference too.

English targets are written with ASCII quotes and apostrophes so the model
produces one consistent form.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

# Characters that should never reach the tokenizer: controls, zero-width
# characters and byte-order marks.
_INVISIBLE = re.compile("[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\u2060\ufeff]")
# Any run of whitespace, including NBSP and the narrow NBSP French puts before « » : ; ! ?
_SPACES = re.compile(r"[\s\u00a0\u202f]+")
_ASCII_QUOTED = re.compile(r'"\s*([^"]+?)\s*"')
_NBSP = "\u00a0"


def normalize_source(text: str) -> str:
    """Unicode NFC, invisible characters removed, whitespace collapsed and stripped.

    Applied to every French training sentence. Typographic apostrophes and
    guillemets are deliberately kept: the model is trained on both ASCII
    and typographic forms (see :func:`typographic_variant`).
    """
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def normalize_target(text: str) -> str:
    """Like :func:`normalize_source`, plus curly quotes/apostrophes → ASCII, so English output uses one form."""
    text = normalize_source(text)
    return text.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "«": '"', "»": '"'}))


def typographic_variant(text: str) -> str:
    """French ASCII forms → typographic ones: ``'`` → ``’``, ``"x"`` → ``« x »`` (with NBSPs)."""
    text = text.replace("'", "’")
    return _ASCII_QUOTED.sub(lambda m: f"«{_NBSP}{m.group(1)}{_NBSP}»", text)


@dataclass(frozen=True)
class FilterRules:
    """Why these numbers: Hansard has some very long speeches and some misaligned pairs;
    over-long pairs waste batch space and skewed length ratios are usually misalignments."""

    max_chars: int = 400
    max_ratio: float = 2.0  # character-length ratio, for pairs whose longer side has ≥ 20 chars
    max_ratio_short: float = 4.0


def keep_pair(source: str, target: str, rules: FilterRules) -> bool:
    """Whether a normalised pair is usable for training."""
    if not source or not target or source == target:
        return False
    ls, lt = len(source), len(target)
    if max(ls, lt) > rules.max_chars:
        return False
    ratio = max(ls, lt) / min(ls, lt)
    return ratio <= (rules.max_ratio if max(ls, lt) >= 20 else rules.max_ratio_short)


def read_pairs(corpus_dir: Path, name: str) -> list[tuple[str, str]]:
    """Line-aligned NAME.fr.gz / NAME.en.gz; raises if the line counts differ."""
    with gzip.open(corpus_dir / f"{name}.fr.gz", "rt", encoding="utf-8") as f:
        fr = f.read().split("\n")
    with gzip.open(corpus_dir / f"{name}.en.gz", "rt", encoding="utf-8") as f:
        en = f.read().split("\n")
    if fr and fr[-1] == "" and en and en[-1] == "":
        fr, en = fr[:-1], en[:-1]
    if len(fr) != len(en):
        raise ValueError(f"{corpus_dir}/{name}: {len(fr)} French lines but {len(en)} English lines")
    return list(zip(fr, en))


def corpus_names(corpus_dir: Path) -> list[str]:
    """Every NAME with both NAME.fr.gz and NAME.en.gz, sorted."""
    return sorted(p.name[: -len(".fr.gz")] for p in corpus_dir.glob("*.fr.gz") if (corpus_dir / p.name.replace(".fr.gz", ".en.gz")).is_file())


def _match_key(text: str) -> str:
    return _SPACES.sub(" ", text.casefold()).strip()


def _stable_fraction(text: str) -> float:
    """A deterministic number in [0, 1) per sentence, so the variant choice does not depend on order."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") / 2**64


@dataclass
class PrepareStats:
    read: dict[str, int]
    kept: int
    filtered: int
    duplicates: int
    excluded_eval: int
    typographic: int
    train: int
    heldout: int


def prepare(
    corpus_dir: Path,
    out_dir: Path,
    *,
    exclude: list[Path] = (),
    heldout: int = 2000,
    typographic_share: float = 0.5,
    rules: FilterRules = FilterRules(),
    seed: int = 1,
) -> PrepareStats:
    """Write out_dir/{train,heldout}.{fr,en} and prepare.json from every corpus in corpus_dir.

    `exclude` lists text files (dev set, seed article) whose lines must not
    appear as a French or English training side, so scores stay honest.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    banned = set()
    for path in exclude:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if len(line.strip()) >= 8:
                banned.add(_match_key(normalize_source(line)))
    read: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    pairs: list[tuple[str, str]] = []
    filtered = duplicates = excluded = typographic = 0
    for name in corpus_names(corpus_dir):
        raw = read_pairs(corpus_dir, name)
        read[name] = len(raw)
        for fr, en in raw:
            fr, en = normalize_source(fr), normalize_target(en)
            if not keep_pair(fr, en, rules):
                filtered += 1
                continue
            if _match_key(fr) in banned or _match_key(en) in banned:
                excluded += 1
                continue
            if (fr, en) in seen:
                duplicates += 1
                continue
            seen.add((fr, en))
            if _stable_fraction(fr) < typographic_share:
                variant = typographic_variant(fr)
                typographic += variant != fr
                fr = variant
            pairs.append((fr, en))
    random.Random(seed).shuffle(pairs)
    splits = {"heldout": pairs[:heldout], "train": pairs[heldout:]}
    for split, items in splits.items():
        for side, index in (("fr", 0), ("en", 1)):
            with open(out_dir / f"{split}.{side}", "w", encoding="utf-8") as f:
                f.writelines(pair[index] + "\n" for pair in items)
    stats = PrepareStats(read, len(pairs), filtered, duplicates, excluded, typographic, len(splits["train"]), len(splits["heldout"]))
    (out_dir / "prepare.json").write_text(
        json.dumps({"corpus_dir": str(corpus_dir), "rules": asdict(rules), "typographic_share": typographic_share, "seed": seed, **asdict(stats)}, indent=2),
        encoding="utf-8",
    )
    return stats
