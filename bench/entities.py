"""Which way of carrying entities across translates best: measured on FLORES-200 dev.

    python bench/entities.py [--model-dir models/alinea-fr-en]

Prints BLEU, chrF and the entity rate (of the entities found in the
source whose expected English form is in the reference, the share in the
output) for:

* off: the model alone;
* pre-substitute: each entity replaced in the *source* by its expected
  English form before translation, hoping the model copies it (what a
  placeholder scheme relies on, without training the model for it);
* pre-substitute + repair: the same, then the service's check and repair;
* repair, replace only: the same without inserting the entities the
  model dropped (only garbled renderings are replaced);
* repair: free translation, then check and repair (what the service does).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sacrebleu.metrics import BLEU, CHRF

from alinea.client.evaluate import occurrences
from alinea.server import preserve
from alinea.server.entities import Mention, recognizer_for
from alinea.server.pipeline import Pipeline
from alinea.server.records import OFF, PRESERVE, TranslationOptions
from alinea.server.registry import load_model
from alinea.server.translate import TranslatorSettings

REPO = Path(__file__).resolve().parent.parent
DEV = REPO / "tests" / "quality" / "flores200-dev" / "flores200-dev"
LINES_PER_DOCUMENT = 50


def substitute(line: str, mentions: list[Mention]) -> str:
    for m in reversed(mentions):
        line = line[: m.span.start] + m.rendering.expected + line[m.span.end :]
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=REPO / "models" / "alinea-fr-en")
    args = parser.parse_args()
    sources = DEV.with_suffix(".fr").read_text(encoding="utf-8").splitlines()
    references = DEV.with_suffix(".en").read_text(encoding="utf-8").splitlines()
    recognizer = recognizer_for("fr", "en")
    pipeline = Pipeline(load_model(args.model_dir, TranslatorSettings()), recognizer=recognizer)
    mentions = [recognizer.find(line) for line in sources]

    def run(name: str, lines: list[str], entities: str) -> None:
        hypotheses: list[str] = []
        for i in range(0, len(lines), LINES_PER_DOCUMENT):
            document = "\n".join(lines[i : i + LINES_PER_DOCUMENT])
            hypotheses += pipeline.translate(document, TranslationOptions(entities=entities)).translated_text.split("\n")
        checked = found = 0
        for found_in_source, reference, hypothesis in zip(mentions, references, hypotheses):
            for m in found_in_source:
                if occurrences(reference, m.rendering.expected):
                    checked += 1
                    found += occurrences(hypothesis, m.rendering.expected) > 0
        bleu = BLEU().corpus_score(hypotheses, [references]).score
        chrf = CHRF().corpus_score(hypotheses, [references]).score
        print(f"{name:24s}  BLEU {bleu:5.2f}  chrF {chrf:5.2f}  entities {found}/{checked} = {found / checked:.1%}",
              flush=True)

    substituted = [substitute(line, ms) for line, ms in zip(sources, mentions)]
    print(f"{args.model_dir.name}, FLORES-200 dev ({len(sources)} sentences), beam 4")
    run("off", sources, OFF)
    run("pre-substitute", substituted, OFF)
    run("pre-substitute + repair", substituted, PRESERVE)
    insertion_point = preserve._insertion_point
    preserve._insertion_point = lambda mention, alignments: None  # nowhere to insert: replace only
    run("repair, replace only", sources, PRESERVE)
    preserve._insertion_point = insertion_point
    run("repair", sources, PRESERVE)


if __name__ == "__main__":
    main()
