"""Learn which French words are ordinary words, not names, from a French corpus.

spaCy's small French NER tags capitalised ordinary words as entities,
mostly at the start of a sentence ("Lire aussi" → LOC) and for demonyms
("les Américains", "les Occidentaux"), which English translates rather than
copies. A word that the corpus writes in lower case at least a tenth as
often as capitalised in mid-sentence is such a word (demonyms are adjectives
in lower case: "les produits américains"; true names almost never are); the
entity recognizer drops a one-word name that is on this list and has no
known English form.

    python -m alinea.models.common_words --data ../shared/data/train --output server/data/common-words.fr.txt
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
from collections import Counter
from pathlib import Path

_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
# Below this many lower-case uses a word is too rare to judge.
MIN_LOWERCASE = 3
# Lower-case uses per capitalised mid-sentence use that make a word common ("Paris": 4 per 82 is a name).
MIN_RATIO = 0.1


def count(lines) -> tuple[Counter, Counter]:
    """Lower-case uses of each word, and capitalised uses not at the start of a sentence."""
    lower, capitalised = Counter(), Counter()
    for line in lines:
        for i, match in enumerate(_WORD.finditer(line)):
            word = match.group()
            if word.islower():
                lower[word] += 1
            elif word[0].isupper() and i > 0 and line[match.start() - 2 : match.start()].strip() not in (".", "!", "?"):
                capitalised[word.lower()] += 1
    return lower, capitalised


def common_words(lines) -> list[str]:
    lower, capitalised = count(lines)
    return sorted(w for w, n in lower.items() if n >= MIN_LOWERCASE and n >= MIN_RATIO * capitalised[w])


def _lines(data: Path):
    for path in sorted(data.glob("*.fr.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            yield from f


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of *.fr.gz corpora (one sentence a line)")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    if not any(args.data.glob("*.fr.gz")):
        print(f"no *.fr.gz corpus in {args.data}", file=sys.stderr)
        return 2
    words = common_words(_lines(args.data))
    sources = ", ".join(p.name for p in sorted(args.data.glob("*.fr.gz")))
    header = f"# French words written in lower case at least a tenth as often as capitalised mid-sentence, in {sources};\n" \
             f"# made by `python -m alinea.models.common_words`. One word a line.\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(header + "".join(w + "\n" for w in words), encoding="utf-8")
    print(f"{len(words):,} words → {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
