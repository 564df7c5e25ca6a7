"""Find the entities of a French text that a translation must carry across.

Three sources, merged with the more certain one winning where spans overlap:
1. the request glossary (terms exactly as the caller wrote them);
2. rules for what a statistical model reads badly: URLs, e-mail addresses,
   hashtags, product codes, dates, percentages, amounts and numbers;
3. spaCy's French pipeline (fr_core_news_sm) for people, places,
   organisations and other names.

The statistical model's spans are cleaned before use: leading articles go
("la Chine" → "Chine"), elisions it tags as places ("qu’", "n’") and
ordinary words capitalised at the start of a sentence ("Lire") are
dropped, and a span grows to a longer established name when one starts
there ("Europe" → "Europe de l’Est"). Each entity carries its Rendering
(see renderings.py): the forms an English reader would accept.
"""

from __future__ import annotations

import functools
import re
import threading
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

from babel.numbers import get_currency_name, get_currency_symbol

from alinea.server import renderings
from alinea.server.records import Span
from alinea.server.renderings import Rendering

SPACY_MODEL = "fr_core_news_sm"
COMMON_WORDS = Path(__file__).resolve().parent / "data" / "common-words.fr.txt"

# Most certain first: where spans overlap, the earlier kind wins.
_PRIORITY = ("TERM", "URL", "EMAIL", "HASHTAG", "MENTION", "MONEY", "PERCENT", "DATE", "CODE", "NUM",
             "PER", "LOC", "ORG", "MISC")

_NUMBER = r"\d{1,3}(?:[.\u00a0\u202f ]\d{3})+(?:,\d+)?|\d+(?:,\d+)?"
_NUMBER_ALONE = re.compile(rf"(?<![\w.,]){_NUMBER}(?![\w]|[.,]\d)")
_MONTHS = "|".join(sorted(renderings.french_months(), key=len, reverse=True))
_DATE = re.compile(rf"(?<!\w)(?:(?P<day>1er|[0-3]?\d)\s+)?(?P<month>{_MONTHS})(?:\s+(?P<year>\d{{4}}))?(?!\w)",
                   re.IGNORECASE)
_PERCENT = re.compile(rf"(?<![\w.,])(?P<n>{_NUMBER})\s?(?:%|pour\s?cent\b)")
# Currency words as French writes them → ISO 4217; the English forms come from CLDR.
_CURRENCIES = {"€": "EUR", "euro": "EUR", "euros": "EUR", "$": "USD", "dollar": "USD", "dollars": "USD",
               "£": "GBP", "livre sterling": "GBP", "livres sterling": "GBP"}
_SCALES = {"million": "million", "millions": "million", "milliard": "billion", "milliards": "billion"}
_MONEY = re.compile(
    rf"(?<![\w.,])(?P<n>{_NUMBER})\s?(?:(?P<scale>millions?|milliards?)\s(?:d[e’']\s?)?)?"
    r"(?P<currency>€|\$|£|euros?\b|dollars?\b|livres? sterling\b)", re.IGNORECASE)
_URL = re.compile(r"(?<!\w)(?:https?://|www\.)[^\s<>«»\"]+")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_HASHTAG = re.compile(r"(?<![\w#])#\w+")
_MENTION = re.compile(r"(?<![\w@])@\w+")
# Letters and digits mixed, with a capital: A320, G7, COVID-19, H1N1.
_CODE = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Z])[A-Z\d]+(?:-[A-Za-z\d]+)*(?![\w-])")
_TRAILING_PUNCTUATION = ".,;:!?)»”’'\""
_NAME_CANDIDATE = re.compile(r"[^\W\d_][\w-]*")
# Tokens as the statistical model counts them, near enough to measure its context in.
_TOKEN = re.compile(r"\w+['’]?|[^\w\s]")
# Tokens around a word that may start a name that the statistical model reads (see _windows).
CONTEXT_BEFORE, CONTEXT_AFTER = 4, 6
_LEADING_ARTICLE = re.compile(r"^(?:(?:les?|la|l[’']|des|du|d[’'])\s*)+", re.IGNORECASE)
_CONNECTOR = re.compile(r"\s*(?:de|du|des|d[’']|de la|de l[’']|la|le|les|l[’']|et)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Mention:
    """An entity in a text: where it is and what it should become."""

    label: str
    span: Span
    text: str
    rendering: Rendering


# Language pairs whose rules and renderings exist (French rules, English forms).
SUPPORTED_PAIRS = {("fr", "en")}


@functools.cache
def recognizer_for(source_language: str, target_language: str) -> "EntityRecognizer | None":
    """The process's one recognizer for a pair, loaded on first use; None for an unsupported pair."""
    if (source_language, target_language) not in SUPPORTED_PAIRS:
        return None
    return EntityRecognizer()


@functools.cache
def common_words(path: Path = COMMON_WORDS) -> frozenset[str]:
    """French words more often written in lower case than capitalised (empty when the list is absent)."""
    if not path.exists():
        return frozenset()
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


class EntityRecognizer:
    """Entities of French text, with their English renderings.

    Loads spaCy once; `find` is safe to call from many threads (the
    statistical model runs under a lock: it is not documented as
    thread-safe). Constructing one holds the process's BLAS (numpy's) to
    one thread.
    """

    def __init__(self, model: str = SPACY_MODEL, use_blis: bool = False):
        import spacy  # the thin client never imports this module
        from thinc.api import NumpyOps
        from threadpoolctl import threadpool_limits

        # Only the NER component. The "sm" pipelines' NER embeds its own token-to-vector layer;
        # the shared tok2vec component feeds only the excluded tagger and parser, and running it
        # would double the cost for identical entities.
        self._nlp = spacy.load(model, exclude=["tok2vec", "parser", "lemmatizer", "morphologizer", "attribute_ruler",
                                               "senter"])
        # thinc multiplies matrices with BLIS by default; numpy's OpenBLAS took less time in every
        # bench run, on AMD EPYC hosts with and without AVX-512 (up to 40% less), with identical
        # entities (bench/throughput.py prints both). One BLAS thread: the translation model already keeps every core busy.
        self._ops = NumpyOps(use_blis=use_blis)
        self._ner = self._nlp.get_pipe("ner")
        for node in self._ner.model.walk():
            node.ops = self._ops
        threadpool_limits(limits=1, user_api="blas")
        self._lock = threading.Lock()
        self._common = common_words()

    def find(self, text: str, glossary: dict[str, str] | None = None,
             sentences: list[Span] | None = None) -> list[Mention]:
        """Entities of `text` in order, none overlapping another.

        `glossary` maps source terms, exactly as written, to the target form
        to enforce (the term itself to keep it verbatim). With `sentences`
        (spans of `text`, in order), the statistical model reads only the
        stretches around words that may start a name (see _windows).
        """
        lookup = {renderings.key(k): v for k, v in (glossary or {}).items()}
        found = [*_glossary_terms(text, glossary or {}), *_rule_entities(text)]
        spans = [Span(0, len(text))] if sentences is None else self._windows(text, sentences)
        from thinc.api import set_current_ops

        with self._lock:
            # The parser builds a model per call, with thinc's current backend. gRPC runs each call
            # in a fresh contextvars.Context, where thinc has none and would look one up (scanning
            # every installed package's entry points) every time: the server's one is set instead.
            set_current_ops(self._ops)
            # The pipeline's one component, called directly: nlp.pipe's batching and error handling
            # cost ~5% of the recognizer's time on a 10-sentence document and do nothing for one batch.
            docs = [self._nlp.make_doc(span.of(text)) for span in spans]
            if docs:
                self._ner.set_annotations(docs, self._ner.predict(docs))
        for span, doc in zip(spans, docs):
            for ent in doc.ents:
                mention = self._name(text, span.start + ent.start_char, span.start + ent.end_char, ent.label_, lookup)
                if mention is not None:
                    found.append(mention)
        return _merge(found)

    def _windows(self, text: str, sentences: list[Span]) -> list[Span]:
        """The stretches of `text` the statistical model reads: each word that may start a name, in context.

        A name is kept only if it starts with a capital (_name drops the
        rest), so the model reads each such word with CONTEXT_BEFORE tokens
        before it and CONTEXT_AFTER after, overlapping stretches merged and
        none reaching past the run of consecutive sentences with such
        words. Its token-to-vector layer sees four tokens each way, so four
        before a word give it the vector it has in the whole text, and six
        after cover a name of up to three tokens the same way. On FLORES-200
        dev the entities differ from those of the whole text in 7 of 1,148
        (tests/test_entities.py; 5 with six tokens before and ten after,
        which take longer to read).
        """
        runs: list[tuple[Span, list[int]]] = []  # a run of sentences, and where its possible names start
        previous: list[int] = []
        for sentence in sentences:
            starts = [sentence.start + offset for offset in self._name_starts(sentence.of(text))]
            if starts and previous:
                runs[-1] = (Span(runs[-1][0].start, sentence.end), runs[-1][1] + starts)
            elif starts:
                runs.append((sentence, starts))
            previous = starts
        windows: list[Span] = []
        for run, starts in runs:
            tokens = [m.span() for m in _TOKEN.finditer(text, run.start, run.end)]
            token_starts = [start for start, _ in tokens]
            for start in starts:
                k = bisect_right(token_starts, start) - 1
                window = Span(tokens[max(0, k - CONTEXT_BEFORE)][0], tokens[min(len(tokens) - 1, k + CONTEXT_AFTER)][1])
                if windows and window.start <= windows[-1].end:
                    windows[-1] = Span(windows[-1].start, max(window.end, windows[-1].end))
                else:
                    windows.append(window)
        return windows

    def _name_starts(self, sentence: str) -> list[int]:
        """Offsets of the capitalised words of `sentence` that may start a name: its first only when that is
        not an ordinary word ("Selon", "Les"), unless a known name starts with it ("Jeux olympiques")."""
        words = list(_NAME_CANDIDATE.finditer(sentence))  # elisions split: "l’Otan" → "l", "Otan"
        starts = [w.start() for w in words if w.group()[0].isupper()]
        first = words[0] if words else None
        if first and starts[:1] == [first.start()] and first.group().casefold() in self._common and not any(
                renderings.name(sentence[first.start() : w.end()]) for w in words[1:4]):
            starts.pop(0)
        return starts

    def _name(self, text: str, start: int, end: int, label: str, glossary: dict[str, str]) -> Mention | None:
        """A cleaned NER span with its rendering, or None for a known false positive."""
        surface = text[start:end]
        article = _LEADING_ARTICLE.match(surface)
        if article and article.end() < len(surface):
            start += article.end()
        while end > start and text[end - 1] in _TRAILING_PUNCTUATION + " ":
            end -= 1
        surface = text[start:end]
        if not re.match(r"[^\W\d_][^\W\d_]", surface) or not surface[0].isupper():
            return None  # "qu’", "n’", a stray lowercase span
        end = _longest_name(text, start, end, glossary)
        surface = text[start:end]
        rendering = renderings.name(surface, glossary)
        if rendering is None:
            words = surface.split()
            if len(words) == 1 and surface.casefold() in self._common:
                return None  # an ordinary word capitalised: "Lire", "Occidentaux"
            if any(w.islower() and not _CONNECTOR.fullmatch(w) for w in words[1:]) and label != "PER":
                return None  # a descriptive phrase ("Conseil national de sécurité") needs translating, not copying
            rendering = Rendering((surface,), renderings.VERBATIM)
        return Mention(label, Span(start, end), surface, rendering)


def _longest_name(text: str, start: int, end: int, glossary: dict[str, str]) -> int:
    """`end`, moved right over up to four more words when that makes a known name ("Europe de l’Est")."""
    best = end
    for match in re.finditer(r"[\w’'-]+", text[end : end + 48]):
        candidate = end + match.end()
        if text[end:candidate].count(" ") > 4:
            break
        if renderings.name(text[start:candidate], glossary) is not None:
            best = candidate
    return best


def _glossary_terms(text: str, glossary: dict[str, str]) -> list[Mention]:
    found = []
    for source, target in glossary.items():
        for m in re.finditer(rf"(?<!\w){re.escape(source)}(?!\w)", text):
            rendering = Rendering((target or source,), renderings.GLOSSARY)
            found.append(Mention("TERM", Span(m.start(), m.end()), m.group(), rendering))
    return found


def _rule_entities(text: str) -> list[Mention]:
    """Dates, amounts, percentages, numbers, codes, URLs, e-mail addresses, hashtags and mentions."""
    found: list[Mention] = []

    def add(label: str, start: int, end: int, rendering: Rendering) -> None:
        found.append(Mention(label, Span(start, end), text[start:end], rendering))

    def verbatim(label: str, pattern: re.Pattern, strip: str = "") -> None:
        for m in pattern.finditer(text):
            end = m.end()
            while strip and end > m.start() + 1 and text[end - 1] in strip:
                end -= 1
            add(label, m.start(), end, Rendering((text[m.start() : end],), renderings.VERBATIM))

    # Each pattern scans the whole text: those that need a mark most texts lack run only where it is.
    if "://" in text or "www." in text:
        verbatim("URL", _URL, _TRAILING_PUNCTUATION)
    if "@" in text:
        verbatim("EMAIL", _EMAIL, ".")
        verbatim("MENTION", _MENTION)
    if "#" in text:
        verbatim("HASHTAG", _HASHTAG)
    verbatim("CODE", _CODE)
    for m in _DATE.finditer(text):
        day, year = m.group("day"), m.group("year")
        month = renderings.french_months()[m.group("month").casefold()]
        try:
            if day:
                rendering = renderings.day_month(1 if day == "1er" else int(day), month, int(year) if year else None)
            elif year:
                rendering = renderings.month_year(month, int(year))
            else:
                continue  # a month alone ("en mars") is a word to translate
        except ValueError:
            continue  # "31 février"
        add("DATE", m.start(), m.end(), rendering)
    for m in _MONEY.finditer(text):
        add("MONEY", m.start(), m.end(), _money(m))
    for m in _PERCENT.finditer(text):
        add("PERCENT", m.start(), m.end(), renderings.percentage(m.group("n")))
    for m in _NUMBER_ALONE.finditer(text):
        digits = m.group()
        if re.fullmatch(r"\d{1,4}", digits):  # years and small counts are written the same in English
            label = "DATE" if re.fullmatch(r"1[5-9]\d\d|20\d\d", digits) else "NUM"
            add(label, m.start(), m.end(), Rendering((digits,), renderings.VERBATIM))
        else:
            add("NUM", m.start(), m.end(), renderings.number(digits))
    return found


def _money(m: re.Match) -> Rendering:
    """'3,5 milliards d’euros' → '€3.5 billion', also '3.5 billion euros'."""
    amount = renderings.number(m.group("n")).expected
    code = _CURRENCIES[m.group("currency").casefold()]
    scale = _SCALES.get((m.group("scale") or "").casefold(), "")
    figure = f"{amount} {scale}".strip()
    symbol = get_currency_symbol(code, locale="en")
    plural = get_currency_name(code, count=2, locale="en").split()[-1]  # "euros", "dollars", "pounds"
    return Rendering((f"{symbol}{figure}", f"{figure} {plural}"), renderings.CONVERTED)


def _merge(found: list[Mention]) -> list[Mention]:
    """Non-overlapping mentions: the more certain kind first, then the longer span."""
    rank = {label: i for i, label in enumerate(_PRIORITY)}
    kept: list[Mention] = []
    for mention in sorted(found, key=lambda m: (rank.get(m.label, len(rank)), -(m.span.end - m.span.start), m.span.start)):
        if all(mention.span.end <= k.span.start or k.span.end <= mention.span.start for k in kept):
            kept.append(mention)
    return sorted(kept, key=lambda m: m.span.start)
