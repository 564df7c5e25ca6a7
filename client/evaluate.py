"""Translation-quality evaluation: test sets, sacrebleu scores, baselines, gates.

A test set is a source file and a reference file, either line-aligned
(``level: sentence``; each line is scored as a unit) or paragraph-aligned
(``level: document``; the source is translated as one document and each
blank-line-separated paragraph is scored as a unit). Test sets are listed in
a JSON manifest (see tests/quality/testsets.json); paths are relative to it.

Every score carries its sacrebleu signature, and a report names the model
and test set, so a figure can always be reproduced. A baseline is a stored
report plus the hypotheses that produced it, one JSON and one text file per
(model, test set): ``BASELINES/<model>/<testset>.json`` and ``.hyp``.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

LEVELS = ("sentence", "document")
METRICS = ("BLEU", "chrF", "chrF++")
# Lines per request when translating a sentence-level set.
LINES_PER_DOCUMENT = 50

# What the translators do with entities: "preserve", "report" or "off" (see TranslationOptions.entities).
ENTITY_MODES = ("preserve", "report", "off")


@dataclass(frozen=True)
class Translated:
    """A document's translation and the expected target form of each entity the service found in it."""

    text: str
    entities: tuple[tuple[int, str], ...] = ()  # (offset of the entity's sentence in the document, expected form)


# translate(documents, source_language, target_language) -> (translations, model name)
Translate = Callable[[list[str], str, str], tuple[list[Translated], str]]


@dataclass(frozen=True)
class TestSet:
    name: str
    source: Path
    reference: Path
    level: str = "sentence"
    source_language: str = "fr"
    target_language: str = "en"
    entities: Path | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"test set {self.name}: level must be one of {LEVELS}, not {self.level!r}")

    def units(self, path: Path) -> list[str]:
        """Lines, or paragraphs for a document-level set, of a source/reference/hypothesis file."""
        return split_units(path.read_text(encoding="utf-8"), self.level)


def split_units(text: str, level: str) -> list[str]:
    if level == "document":
        return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    if text.endswith("\n"):
        text = text[:-1]  # the final line break ends the last line; an empty line before it is a unit
    return text.split("\n") if text else []


def load_testsets(manifest: Path) -> list[TestSet]:
    """Test sets from a JSON manifest; ValueError says what is wrong with it."""
    data = json.loads(manifest.read_text(encoding="utf-8"))
    base = manifest.parent
    sets = []
    for entry in data.get("testsets", []):
        entry = dict(entry)
        for key in ("source", "reference", "entities"):
            if entry.get(key):
                entry[key] = (base / entry[key]).resolve()
                if not entry[key].is_file():
                    raise ValueError(f"{manifest}: test set {entry.get('name')}: {key} file {entry[key]} not found")
        try:
            sets.append(TestSet(**entry))
        except TypeError as exc:
            raise ValueError(f"{manifest}: bad test set entry {entry.get('name')!r}: {exc}") from None
    if not sets:
        raise ValueError(f"{manifest}: no test sets under \"testsets\"")
    return sets


# -- translating --------------------------------------------------------------------


@dataclass
class Output:
    """A test set's hypotheses, one per unit, with the expected entity forms the service reported per unit."""

    hypotheses: list[str]
    model: str
    entities: list[list[str]] | None = None  # None: the translator reported no entities


def _unit_starts(text: str, level: str) -> list[int]:
    """Offsets in `text` where its units (lines, or paragraphs) begin, in split_units' order."""
    if level == "document":
        return [m.start() for m in re.finditer(r"\S(?:.|\n(?!\s*\n))*", text)]
    return [0] + [m.end() for m in re.finditer("\n", text)]


def _entities_by_unit(document: str, level: str, translated: Translated, units: int) -> list[list[str]]:
    starts = _unit_starts(document, level)
    by_unit: list[list[str]] = [[] for _ in range(units)]
    for offset, expected in translated.entities:
        unit = bisect_right(starts, offset) - 1
        if 0 <= unit < units:
            by_unit[unit].append(expected)
    return by_unit


def translate_testset(testset: TestSet, translate: Translate) -> Output:
    """Hypotheses, one per unit of the set, the model that made them, and the entities it reported."""
    if testset.level == "document":
        text = testset.source.read_text(encoding="utf-8")
        (translation,), model = translate([text], testset.source_language, testset.target_language)
        hypotheses = split_units(translation.text, "document")
        return Output(hypotheses, model, _entities_by_unit(text, "document", translation, len(hypotheses)))
    lines = testset.units(testset.source)
    # A blank line would be an empty document: keep its place, translate the rest.
    chunks = ["\n".join(lines[i : i + LINES_PER_DOCUMENT]) for i in range(0, len(lines), LINES_PER_DOCUMENT)]
    translations, model = translate(chunks, testset.source_language, testset.target_language)
    output = Output([], model, [])
    for chunk, translation in zip(chunks, translations):
        out = translation.text.split("\n")
        if len(out) != chunk.count("\n") + 1:
            raise RuntimeError(f"{testset.name}: {chunk.count(chr(10)) + 1} lines went in, {len(out)} came out")
        output.hypotheses.extend(out)
        output.entities.extend(_entities_by_unit(chunk, "sentence", translation, len(out)))
    return output


def _reported(segments) -> tuple[tuple[int, str], ...]:
    """(sentence offset, expected form) of every entity of a response's segments (records or messages)."""
    return tuple((s.source_span.start, e.expected_text) for s in segments for e in s.entities)


def server_translator(client, model: str = "", entities: str = "preserve") -> Translate:
    """Translate through a running server, many documents over one TranslateDocuments call."""
    from alinea.client.client import Options

    options = Options(entities=entities)

    def translate(documents: list[str], source: str, target: str) -> tuple[list[Translated], str]:
        requests = [client.request(d, source_language=source, target_language=target, model=model, options=options,
                                   document_id=str(i)) for i, d in enumerate(documents)]
        out, used = [], ""
        for document, response in zip(documents, client.translate_many(requests)):
            if response.HasField("error"):
                # Blank input lines make an empty document; anything else is a real failure.
                if document.strip():
                    raise RuntimeError(f"document {response.document_id}: {response.error.message}")
                out.append(Translated(document))
                continue
            out.append(Translated(response.translated_text, _reported(response.segments)))
            used = response.model
        return out, used

    return translate


def in_process_translator(model_dirs: Sequence[Path] = (), model: str = "", shipped: bool = True,
                          entities: str = "preserve") -> Translate:
    """Translate with the server's pipeline in this process (needs alinea[server])."""
    from alinea.server.entities import recognizer_for
    from alinea.server.pipeline import Pipeline
    from alinea.server.records import TranslationOptions
    from alinea.server.registry import ModelRegistry, primary_subtag, shipped_model_root

    registry = ModelRegistry.load(([shipped_model_root()] if shipped else []) + list(model_dirs))
    options = TranslationOptions(entities=entities)

    def translate(documents: list[str], source: str, target: str) -> tuple[list[Translated], str]:
        loaded = registry.resolve(source, target, model)
        pipeline = Pipeline(loaded, recognizer=recognizer_for(primary_subtag(loaded.manifest.source_language),
                                                              primary_subtag(loaded.manifest.target_language)))
        out = []
        for document in documents:
            if not document.strip():
                out.append(Translated(document))
                continue
            result = pipeline.translate(document, options)
            out.append(Translated(result.translated_text, _reported(result.segments)))
        return out, loaded.manifest.name

    return translate


# -- scoring --------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    score: float
    signature: str


@dataclass
class Report:
    testset: str
    model: str
    units: int
    scores: dict[str, Score]
    entity_preservation: float | None = None
    # Entities the service found whose expected form is in the reference, and the share of them in the output.
    reference_entities: int | None = None
    reference_entity_rate: float | None = None
    hypotheses: list[str] = field(default_factory=list, repr=False)

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("hypotheses")
        return data

    @classmethod
    def from_json(cls, data: dict, hypotheses: list[str] | None = None) -> "Report":
        scores = {k: Score(**v) for k, v in data["scores"].items()}
        return cls(data["testset"], data["model"], data["units"], scores, data.get("entity_preservation"),
                   data.get("reference_entities"), data.get("reference_entity_rate"), hypotheses or [])


def metrics():
    from sacrebleu.metrics import BLEU, CHRF

    return {"BLEU": BLEU(), "chrF": CHRF(), "chrF++": CHRF(word_order=2)}


def score(testset: TestSet, hypotheses: list[str], model: str, entities: list[list[str]] | None = None) -> Report:
    """Scores of `hypotheses`; with `entities` (expected forms per unit), the reference-based entity rate too."""
    references = testset.units(testset.reference)
    if len(hypotheses) != len(references):
        raise ValueError(f"{testset.name}: {len(hypotheses)} hypotheses for {len(references)} references")
    scores = {}
    for name, metric in metrics().items():
        result = metric.corpus_score(hypotheses, [references])
        scores[name] = Score(round(result.score, 2), str(metric.get_signature()))
    listed = entity_preservation(testset.entities, "\n".join(hypotheses)) if testset.entities else None
    checked, rate = reference_entity_rate(entities, references, hypotheses) if entities is not None else (None, None)
    return Report(testset.name, model, len(references), scores, listed, checked, rate, hypotheses)


def occurrences(text: str, form: str) -> int:
    """How often `form` appears in `text` as whole words."""
    return len(re.findall(rf"(?<!\w){re.escape(form)}(?!\w)", text))


def reference_entity_rate(entities: list[list[str]], references: list[str],
                          hypotheses: list[str]) -> tuple[int, float | None]:
    """Of the entities whose expected form the reference contains, how many, and the share the output contains.

    The reference decides which entities count, so a wrong expected form
    (or a false entity) is left out rather than scored against the output.
    """
    checked = found = 0
    for forms, reference, hypothesis in zip(entities, references, hypotheses):
        for form in forms:
            if occurrences(reference, form):
                checked += 1
                found += occurrences(hypothesis, form) > 0
    return checked, (round(found / checked, 4) if checked else None)


def entity_preservation(entity_list: Path, translation: str) -> float:
    """Share of the listed source entity occurrences whose acceptable form appears in the translation.

    The list is TSV: source form, label, acceptable forms separated by |,
    occurrences in the source. An entity occurring n times counts as found
    min(n, occurrences of its acceptable forms) times.
    """
    found = total = 0
    for line in entity_list.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        _, _, forms, count = line.split("\t")[:4]
        expected = int(count)
        hits = sum(occurrences(translation, f) for f in forms.split("|"))
        found += min(expected, hits)
        total += expected
    return round(found / total, 4) if total else 1.0


# -- baselines and gates --------------------------------------------------------------


def baseline_paths(baselines: Path, model: str, testset: str) -> tuple[Path, Path]:
    folder = baselines / model
    return folder / f"{testset}.json", folder / f"{testset}.hyp"


def save_baseline(report: Report, baselines: Path) -> Path:
    report_path, hyp_path = baseline_paths(baselines, report.model, report.testset)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    hyp_path.write_text("".join(h.replace("\n", " ") + "\n" for h in report.hypotheses), encoding="utf-8")
    return report_path


def load_baseline(baselines: Path, model: str, testset: str) -> Report | None:
    report_path, hyp_path = baseline_paths(baselines, model, testset)
    if not report_path.is_file():
        return None
    hypotheses = hyp_path.read_text(encoding="utf-8").splitlines() if hyp_path.is_file() else []
    return Report.from_json(json.loads(report_path.read_text(encoding="utf-8")), hypotheses)


@dataclass(frozen=True)
class Regression:
    testset: str
    metric: str
    baseline: float
    current: float
    tolerance: float

    def __str__(self) -> str:
        return (
            f"{self.testset}: {self.metric} fell {self.baseline - self.current:.2f} points "
            f"({self.baseline:.2f} → {self.current:.2f}; tolerance {self.tolerance:g})"
        )


def check(report: Report, baseline: Report, tolerances: dict[str, float]) -> list[Regression]:
    """Metrics of `report` below the baseline by more than their tolerance.

    A metric whose sacrebleu signature changed cannot be compared: that is a
    failure too (reported as falling from the baseline to NaN).
    """
    regressions = []
    for metric, tolerance in tolerances.items():
        before, now = baseline.scores.get(metric), report.scores.get(metric)
        if before is None or now is None:
            continue
        if before.signature != now.signature:
            regressions.append(Regression(report.testset, f"{metric} (signature changed: {before.signature} → {now.signature})",
                                          before.score, float("nan"), tolerance))
        elif now.score < before.score - tolerance:
            regressions.append(Regression(report.testset, metric, before.score, now.score, tolerance))
    # Entity rates are shares (0-1); the gate compares them in percentage points, as it prints them.
    tolerance = tolerances.get("entities", 0.0)
    for metric, before, now in (("entity preservation", baseline.entity_preservation, report.entity_preservation),
                                ("entity preservation (in reference)", baseline.reference_entity_rate,
                                 report.reference_entity_rate)):
        if before is not None and now is not None and 100 * now < 100 * before - tolerance:
            regressions.append(Regression(report.testset, metric, 100 * before, 100 * now, tolerance))
    return regressions


@dataclass(frozen=True)
class Drop:
    index: int
    source: str
    reference: str
    baseline: str
    current: str
    baseline_chrf: float
    current_chrf: float


def worst_drops(testset: TestSet, baseline: list[str], current: list[str], n: int = 5) -> list[Drop]:
    """The units whose sentence-level chrF fell most from the baseline hypotheses."""
    from sacrebleu.metrics import CHRF

    chrf = CHRF()
    sources, references = testset.units(testset.source), testset.units(testset.reference)
    if not (len(baseline) == len(current) == len(references)):
        return []
    drops = []
    for i, (ref, old, new) in enumerate(zip(references, baseline, current)):
        before, after = chrf.sentence_score(old, [ref]).score, chrf.sentence_score(new, [ref]).score
        if after < before:
            drops.append(Drop(i, sources[i] if i < len(sources) else "", ref, old, new, round(before, 1), round(after, 1)))
    return sorted(drops, key=lambda d: d.current_chrf - d.baseline_chrf)[:n]


def compare(references: list[str], system_a: list[str], system_b: list[str], names=("A", "B"), samples: int = 1000):
    """Paired bootstrap resampling (sacrebleu) of B against A: {metric: (score A, score B, p-value)}."""
    from sacrebleu.significance import PairedTest

    if not (len(references) == len(system_a) == len(system_b)):
        raise ValueError(f"line counts differ: reference {len(references)}, {names[0]} {len(system_a)}, {names[1]} {len(system_b)}")
    test = PairedTest([(names[0], system_a), (names[1], system_b)], metrics(), [references], test_type="bs", n_samples=samples)
    signatures, results = test()
    out = {}
    for metric, (a, b) in ((k, v) for k, v in results.items() if k != "System"):
        out[metric] = (a.score, b.score, b.p_value, str(signatures[metric]))
    return out
