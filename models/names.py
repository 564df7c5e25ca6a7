"""Learn French→English renderings of names from the parallel training corpora.

The service has to carry named expressions across languages the way an
English reader expects them: place names that have an established English
form (``Moscou`` → ``Moscow``, ``Pékin`` → ``Beijing``, ``Europe de l'Est`` →
``Eastern Europe``), organisations known by a different acronym (``OTAN`` →
``NATO``) and institutional names (``Jeux olympiques``, ``Nations unies``).
A name that is written the same in both languages needs nothing, so the table
holds only entries whose English differs from the French.

Method, over line-aligned sentence pairs:

1. Both sides are tokenised simply: words keep inner hyphens
   (``États-Unis``), French elisions are split off (``l'Est`` → ``l'`` ``Est``)
   and typographic apostrophes are normalised first. Lines written all in
   capitals (the Hansard's headings) are skipped: their capitals say nothing.
2. A *name word* is a word that, across the corpus, is seen capitalised in
   mid-sentence at least as often as it is seen in lowercase, or is never
   seen in lowercase at all. This is what keeps sentence-initial common words
   (``Le``, ``Il``, ``The``) out: they are capitalised only because they
   start a sentence, and are written in lowercase elsewhere.
3. Candidates are n-grams of up to 7 tokens that do not cross punctuation. A
   candidate starts with a capitalised word that is either a name word or is
   capitalised in mid-sentence (so capitalised on purpose); a single word
   among the language's most frequent ones is never a candidate. French may
   continue with capitalised words, connectors (``de``, ``l'``, ``et``,
   ``sur``...) and lowercase words that are not among the most frequent,
   because French capitalises only the first word of a name (``Jeux
   olympiques``, ``Loi sur les jeunes contrevenants``); it may not end with
   a connector. English continues with capitalised words and connectors and
   ends with a capitalised word (``House of Commons``). Multi-word candidates
   found this way are then also matched whatever their casing (``Olympic
   games``, ``eastern Europe``), which counts the same name written less
   carefully.
4. Each candidate is counted once per sentence; co-occurrence is counted per
   sentence pair. For every French candidate seen in enough pairs the English
   candidate with the best Dice coefficient, 2·c(f,e) / (c(f) + c(e)), is its
   rendering, unless a longer English candidate contains it and shares most
   of its pairs (``Royal Canadian Mounted Police`` rather than ``Mounted``).
   English head words added to the name (``Minister of``, ``... War``) are
   not taken when the French name usually follows a lowercase word
   (``ministre des Finances``, ``guerre du Golfe``), since they render that
   word. Entries need a minimum
   co-occurrence count and Dice score.
5. A French candidate and one that contains it: with the same rendering only
   one is kept, the longer one when the two are close (``Jeux olympiques``
   rather than ``Jeux``); with different renderings the shorter goes when it
   mostly occurs inside the longer (a fragment).
6. Entries that carry the name over are dropped: the English copies the French
   (``Mira`` beside ``Mira Spivak``), differs only in accents, case or
   punctuation (the Hansard copy lost its accents, so ``René`` / ``Rene``
   proves nothing), only cuts words off, or repeats a title's entry before
   a name (``Mme Beth Phinney`` → ``Ms. Beth Phinney`` beside ``Mme`` →
   ``Ms.``).

The table keeps the most frequent written form of each side, so a caller that
wants ``Otan`` to find ``OTAN`` matches case-insensitively itself.

Usage::

    python -m alinea.models.names --data /path/to/train --output server/data/names.fr-en.tsv

The data directory holds pairs ``NAME.fr.gz`` / ``NAME.en.gz``, line-aligned.
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

# Long enough for "Acte de l'Amérique du Nord britannique" (an elision is a token).
MAX_NGRAM = 7
# Lowercase words that may link the parts of a name but not end one.
FRENCH_CONNECTORS = frozenset({
    "de", "du", "des", "d'", "l'", "la", "le", "les", "et", "à", "au", "aux", "en", "sur", "pour", "sans", "contre",
})
ENGLISH_CONNECTORS = frozenset({
    "of", "the", "and", "for", "on", "in", "to", "'s", "de", "du", "des", "la", "le", "d'", "l'",
})
# Mid-sentence capitalisation after these tokens is not evidence of a name.
SENTENCE_STARTERS = frozenset(".!?:;«»\"“”()[]-–—…*")
# A side's most frequent lowercase words count as grammar words: they may not
# continue a French name, nor start a case-insensitive match. At most this
# many, and no more than FREQUENT_SHARE of its lowercase vocabulary (for
# small corpora).
FREQUENT_WORDS = 150
FREQUENT_SHARE = 0.05

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'"})
# French elisions are split off ("l'Est"); other apostrophes stay inside the
# word ("Nisga'a"), and "St." keeps its full stop ("St. John's-Est").
_FRENCH_TOKEN = re.compile(
    r"\b(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu|presqu|quelqu)'(?=[^\W\d_])"
    r"|\b(?:St|Ste|Mt)\.|\w+(?:[-']\w+)*|[^\w\s]",
    re.IGNORECASE,
)
# English keeps titles' full stops ("Mr. Speaker") and apostrophes inside
# names ("O'Brien", "Qu'Appelle"); "'s" and other clitics are tokens.
_ENGLISH_TOKEN = re.compile(
    r"\b(?:Mr|Mrs|Ms|Dr|St|Mt|Jr|Sr)\.|\w+(?:-\w+|'(?!(?:s|t|re|ve|ll|d|m)\b)\w+)*|'(?:s|t|re|ve|ll|d|m)\b|[^\w\s]"
)


@dataclass(frozen=True)
class Settings:
    """Thresholds; counts are of sentence pairs."""

    min_source_count: int = 3
    min_pairs_together: int = 3
    min_dice: float = 0.5
    # An English candidate that contains the best one and shares at least this
    # part of its pairs is the more specific rendering ("Royal Canadian
    # Mounted Police" rather than "Mounted").
    longer_target_share: float = 0.75
    # A French candidate that follows one lowercase word this often gets no
    # English head words added before its rendering ("Minister of").
    usual_word_before: float = 0.5
    # A name that the English mostly copies ("Mira" beside "Mira Spivak",
    # "Touche" in "Deloitte & Touche") needs no rendering when the copy has at
    # least this share of the chosen rendering's Dice score.
    copied_share: float = 0.5
    # Two nested French candidates with one rendering: the longer wins unless
    # the shorter's Dice is larger by more than this factor.
    nested_tolerance: float = 1.1
    # A French candidate seen mostly (this share) inside a longer kept one is
    # a fragment of it.
    inside_share: float = 0.75


@dataclass(frozen=True)
class Entry:
    source: str
    target: str
    pairs_together: int  # sentence pairs holding both
    source_count: int  # sentence pairs holding the source
    dice: float


@dataclass(frozen=True)
class Table:
    entries: list[Entry]  # sorted by source
    corpora: dict[str, int]  # sentence pairs read from each corpus


class Scored(NamedTuple):
    """One English candidate for a French one."""

    dice: float
    words: int
    together: int
    target: int  # the English candidate's id


# --------------------------------------------------------------- reading data


def corpus_pairs(data_dir: Path) -> list[tuple[str, Path, Path]]:
    """(name, French file, English file) for every NAME.fr.gz with a NAME.en.gz, sorted."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: no such directory")
    pairs = []
    for french in sorted(data_dir.glob("*.fr.gz")):
        name = french.name[: -len(".fr.gz")]
        english = data_dir / f"{name}.en.gz"
        if english.is_file():
            pairs.append((name, french, english))
    if not pairs:
        raise FileNotFoundError(f"{data_dir}: no corpus pair NAME.fr.gz + NAME.en.gz")
    return pairs


def read_pairs(corpora: list[tuple[str, Path, Path]]) -> Iterator[tuple[str, str, str]]:
    """(corpus name, French, English) for every line pair, apostrophes normalised.

    Files of one pair with unequal line counts are an error.
    """
    for name, french, english in corpora:
        with gzip.open(french, "rt", encoding="utf-8") as fr, gzip.open(english, "rt", encoding="utf-8") as en:
            try:
                for fr_line, en_line in zip(fr, en, strict=True):
                    yield name, fr_line.translate(_APOSTROPHES).strip(), en_line.translate(_APOSTROPHES).strip()
            except ValueError:
                raise ValueError(f"{french} and {english} do not have the same number of lines") from None


# ---------------------------------------------------------------- tokens


def tokenize_french(text: str) -> list[str]:
    return _FRENCH_TOKEN.findall(text)


def tokenize_english(text: str) -> list[str]:
    return _ENGLISH_TOKEN.findall(text)


def is_word(token: str) -> bool:
    return token[0].isalnum() or token[0] == "'"


def is_capitalised(token: str) -> bool:
    return token[0].isupper() and sum(c.isalpha() for c in token) >= 2


def is_shouting(tokens: list[str]) -> bool:
    """All-capitals lines (Hansard headings): their capitals say nothing about names."""
    words = [t for t in tokens if any(c.isalpha() for c in t)]
    caps = [t for t in words if t.isupper() and len(t) >= 2]
    return 2 * len(caps) >= len(words) and sum(len(t) for t in caps) >= 6


def mid_sentence(tokens: list[str]) -> list[bool]:
    """For each token: does it stand where capitalisation is not required?"""
    flags = []
    previous = None
    for token in tokens:
        flags.append(previous is not None and previous not in SENTENCE_STARTERS)
        previous = token
    return flags


def word_runs(tokens: list[str]) -> Iterator[tuple[int, int]]:
    """[start, end) index ranges of consecutive word tokens (n-grams never cross punctuation)."""
    start = None
    for index, token in enumerate(tokens):
        if is_word(token):
            if start is None:
                start = index
        elif start is not None:
            yield start, index
            start = None
    if start is not None:
        yield start, len(tokens)


# ------------------------------------------------------------ the lexicon


@dataclass
class Lexicon:
    """What one language's corpus says about its words' capitalisation."""

    name_words: frozenset[str]
    frequent: frozenset[str]
    connectors: frozenset[str]
    lowercase_inside: bool  # may lowercase words continue a name (French)?


class CaseStats:
    """How often each word is written capitalised mid-sentence, anywhere, and in lowercase."""

    def __init__(self) -> None:
        self.capitalised_mid = Counter[str]()
        self.capitalised = Counter[str]()
        self.lowercase = Counter[str]()

    def add(self, tokens: list[str]) -> None:
        if is_shouting(tokens):
            return
        for token, mid in zip(tokens, mid_sentence(tokens)):
            if token.islower():
                self.lowercase[token] += 1
            elif is_capitalised(token):
                self.capitalised[token.lower()] += 1
                if mid:
                    self.capitalised_mid[token.lower()] += 1

    def is_name_word(self, word: str) -> bool:
        """Capitalised mid-sentence at least as often as lowercase, or never lowercase at all."""
        lower = self.lowercase[word]
        if lower == 0:
            return self.capitalised[word] >= 2
        return self.capitalised_mid[word] >= max(2, lower)

    def lexicon(self, connectors: frozenset[str], lowercase_inside: bool) -> Lexicon:
        names = frozenset(word for word in self.capitalised if self.is_name_word(word))
        size = min(FREQUENT_WORDS, int(len(self.lowercase) * FREQUENT_SHARE))
        frequent = frozenset(word for word, _ in self.lowercase.most_common(size))
        return Lexicon(names, frequent, connectors, lowercase_inside)


# ------------------------------------------------------------ candidates


def may_start(token: str, mid: bool, lexicon: Lexicon) -> bool:
    return is_capitalised(token) and (mid or token.lower() in lexicon.name_words)


def may_continue(token: str, lexicon: Lexicon) -> bool:
    if token in lexicon.connectors or is_capitalised(token) or (len(token) == 1 and token.isupper()):
        return True  # a single capital too, inside a name ("Hepatitis C Society")
    return lexicon.lowercase_inside and token.islower() and token not in lexicon.frequent


def may_end(token: str, lexicon: Lexicon) -> bool:
    if token in lexicon.connectors or len(token) == 1:
        return False  # nor an initial ("Arthur C. Eggleton")
    return lexicon.lowercase_inside or is_capitalised(token)


def candidates(tokens: list[str], lexicon: Lexicon) -> Iterator[tuple[str, str, int]]:
    """(key, surface, start) of every name candidate written with its capitals; key is lowercased."""
    if is_shouting(tokens):
        return
    mids = mid_sentence(tokens)
    for start, end in word_runs(tokens):
        for i in range(start, end):
            if not may_start(tokens[i], mids[i], lexicon):
                continue
            for j in range(i + 1, min(i + MAX_NGRAM, end) + 1):
                if j - 1 > i and not may_continue(tokens[j - 1], lexicon):
                    break
                if j - i == 1 and tokens[i].lower() in lexicon.frequent:
                    continue  # "Son", "Le": grammar words, even when capitalised
                if may_end(tokens[j - 1], lexicon):
                    surface = join(tokens[i:j])
                    yield surface.lower(), surface, i


def join(tokens: list[str]) -> str:
    """Tokens back to text: no space after an elision ("l'Est") nor before a clitic ("Women's")."""
    text = ""
    for token in tokens:
        text += token if not text or text.endswith("'") or token.startswith("'") else " " + token
    return text


def matches(tokens: list[str], lexicon: Lexicon, vocabulary: dict[str, int]) -> dict[int, tuple[str, int]]:
    """Candidate ids present in a sentence, each with the surface seen and where it starts.

    Multi-word candidates are matched whatever their casing (``jeux
    olympiques``, ``eastern Europe``) unless they begin with a grammar word;
    single words only where they qualify as candidates, so the common noun
    ``house`` is not the name ``House``. Headings in capitals are skipped.
    """
    found: dict[int, tuple[str, int]] = {}
    if is_shouting(tokens):
        return found
    for key, surface, start in candidates(tokens, lexicon):
        index = vocabulary.get(key)
        if index is not None:
            found.setdefault(index, (surface, start))
    for start, end in word_runs(tokens):
        for i in range(start, end):
            if tokens[i].lower() in lexicon.frequent:
                continue
            for j in range(i + 2, min(i + MAX_NGRAM, end) + 1):
                surface = join(tokens[i:j])
                index = vocabulary.get(surface.lower())
                if index is not None and index not in found:
                    found[index] = (surface, i)
    return found


def word_before(tokens: list[str], start: int, connectors: frozenset[str]) -> str | None:
    """The lowercase word before a candidate, connectors skipped ("ministre" in "ministre des Finances")."""
    i = start - 1
    while i >= 0 and tokens[i].lower() in connectors:
        i -= 1
    return tokens[i] if i >= 0 and tokens[i].islower() else None


# ------------------------------------------------------------ comparing names


def _fold(word: str) -> str:
    """Lowercase without accents: the Hansard copy lost its accents, so they prove nothing."""
    return "".join(c for c in unicodedata.normalize("NFD", word.lower()) if not unicodedata.combining(c))


def _words(key: str) -> tuple[str, ...]:
    return tuple(key.replace("'", "' ").split())


def _is_part(shorter: tuple[str, ...], longer: tuple[str, ...]) -> bool:
    n = len(shorter)
    return n < len(longer) and any(longer[i : i + n] == shorter for i in range(len(longer) - n + 1))


def _parts(words: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Every shorter run of consecutive words."""
    for size in range(1, len(words)):
        for start in range(len(words) - size + 1):
            yield words[start : start + size]


def _head_around(name: tuple[str, ...], longer: tuple[str, ...]) -> bool:
    """Does `longer` add a head to `name`: before it with a connector ("minister of"), or after it ("war")?"""
    n = len(name)
    starts = [i for i in range(len(longer) - n + 1) if longer[i : i + n] == name]
    return any((i > 0 and longer[i - 1] in ENGLISH_CONNECTORS) or i + n < len(longer) for i in starts)


# ------------------------------------------------------------ learning


class Side:
    """One language's candidates: ids, sentence counts and written forms."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self.vocabulary: dict[str, int] = {}
        self.keys: list[str] = []
        self.count: list[int] = []
        self.surfaces: list[Counter[str]] = []
        # Lowercase words seen just before each candidate.
        self.before: defaultdict[int, Counter[str]] = defaultdict(Counter)

    def admit(self, keys: Iterable[str]) -> None:
        for key in sorted(keys):
            self.vocabulary[key] = len(self.keys)
            self.keys.append(key)
            self.count.append(0)
            self.surfaces.append(Counter())

    def observe(self, tokens: list[str]) -> list[int]:
        found = matches(tokens, self.lexicon, self.vocabulary)
        for index, (surface, start) in found.items():
            self.count[index] += 1
            self.surfaces[index][surface] += 1
            word = word_before(tokens, start, self.lexicon.connectors)
            if word is not None:
                self.before[index][word] += 1
        return sorted(found)

    def usually_after_word(self, index: int, share: float) -> bool:
        """Does one lowercase word precede this candidate in at least `share` of its sentences?"""
        words = self.before.get(index)
        return bool(words) and max(words.values()) >= share * self.count[index]

    def surface(self, index: int) -> str:
        """The most frequent written form, preferring one that starts with a capital."""
        forms = self.surfaces[index]
        return min(forms, key=lambda form: (not form[0].isupper(), -forms[form], form))


def n_words(key: str) -> int:
    return len(_words(key))


def choose_rendering(scored: list[Scored], keys: list[str], settings: Settings, after_word: bool) -> Scored:
    """The best Dice, or the longest candidate that contains it and shares most of its pairs.

    With `after_word` (the French name mostly follows a lowercase word, as in
    "ministre des Finances", "guerre du Golfe") the English words that
    render that word come with the name: those joined before it by a
    connector ("Minister of Finance") or after it ("Gulf War"), so such a
    longer candidate is not taken.
    """
    best = max(scored, key=lambda row: (row.dice, row.together, row.words, -row.target))
    best_words = _words(keys[best.target])
    longer = [
        row for row in scored
        if row.dice >= settings.min_dice
        and row.together >= settings.longer_target_share * best.together
        and _is_part(best_words, _words(keys[row.target]))
        and not (after_word and _head_around(best_words, _words(keys[row.target])))
    ]
    return max(longer, key=lambda row: (row.words, row.dice, row.together, -row.target), default=best)


def learn(data_dir: Path, settings: Settings = Settings(), log: Callable[[str], None] | None = None) -> Table:
    """Learn the table from every corpus pair in `data_dir`."""
    corpora = corpus_pairs(data_dir)
    say = log or (lambda message: None)

    # Pass 1: capitalisation statistics of each language.
    french_case, english_case = CaseStats(), CaseStats()
    pairs_read = Counter[str]()
    for name, fr, en in read_pairs(corpora):
        french_case.add(tokenize_french(fr))
        english_case.add(tokenize_english(en))
        pairs_read[name] += 1
    pairs = sum(pairs_read.values())
    french_lexicon = french_case.lexicon(FRENCH_CONNECTORS, lowercase_inside=True)
    english_lexicon = english_case.lexicon(ENGLISH_CONNECTORS, lowercase_inside=False)
    say(f"{pairs} pairs; name words: {len(french_lexicon.name_words)} French, "
        f"{len(english_lexicon.name_words)} English")

    # Pass 2: the candidates, as written with their capitals.
    french, english = Side(french_lexicon), Side(english_lexicon)
    french_keys: set[str] = set()
    english_keys: set[str] = set()
    for _, fr, en in read_pairs(corpora):
        french_keys.update(key for key, _, _ in candidates(tokenize_french(fr), french_lexicon))
        english_keys.update(key for key, _, _ in candidates(tokenize_english(en), english_lexicon))
    french.admit(french_keys)
    english.admit(english_keys)
    del french_keys, english_keys
    say(f"candidates: {len(french.keys)} French, {len(english.keys)} English")

    # Pass 3: sentence counts in any casing, and the English ids of each pair.
    sentences_of: list[list[int]] = [[] for _ in french.keys]
    english_in: list[tuple[int, ...]] = []
    for _, fr, en in read_pairs(corpora):
        french_ids = french.observe(tokenize_french(fr))
        english_ids = english.observe(tokenize_english(en))
        if french_ids and english_ids:
            for index in french_ids:
                sentences_of[index].append(len(english_in))
            english_in.append(tuple(english_ids))

    english_by_form = {_fold(key): e for e, key in enumerate(english.keys)}
    best: dict[int, Entry] = {}
    for f, sentences in enumerate(sentences_of):
        if french.count[f] < settings.min_source_count:
            continue
        together = Counter[int]()
        for sentence in sentences:
            together.update(english_in[sentence])
        scored = [
            Scored(2 * n / (french.count[f] + english.count[e]), n_words(english.keys[e]), n, e)
            for e, n in together.items()
            if n >= settings.min_pairs_together
        ]
        if not scored:
            continue
        after_word = french.usually_after_word(f, settings.usual_word_before)
        choice = choose_rendering(scored, english.keys, settings, after_word)
        copy = english_by_form.get(_fold(french.keys[f]))
        copied = [row for row in scored if row.target == copy and row.dice >= settings.copied_share * choice.dice]
        if copied:
            choice = copied[0]  # the name is carried over as it is; dropped below
        if choice.dice >= settings.min_dice:
            best[f] = Entry(french.surface(f), english.surface(choice.target), choice.together,
                            french.count[f], round(choice.dice, 3))
    entries = drop_nested(best, french.keys, settings)
    kept = drop_titled_names([entry for entry in entries if not same_words(entry.source, entry.target)])
    say(f"associations: {len(best)}, after nesting: {len(entries)}, differing: {len(kept)}")
    entries = sorted(kept, key=lambda entry: (entry.source, entry.target))
    return Table(entries, {name: pairs_read[name] for name, _, _ in corpora})


def same_words(source: str, target: str) -> bool:
    """Does one side only repeat words of the other?

    Such entries are no rendering: accent, case or punctuation differences
    ("René" / "Rene", "St" / "St."), a name cut short ("Mme Deborah Grey" /
    "Deborah Grey", "McDonald's" / "McDonald") or a list of names ("Tom et
    John" / "Tom and John").
    """
    connectors = {word.strip("'") for word in FRENCH_CONNECTORS | ENGLISH_CONNECTORS} | {"s"}
    french = {w for w in re.findall(r"\w+", _fold(source)) if w not in connectors}
    english = {w for w in re.findall(r"\w+", _fold(target)) if w not in connectors}
    return french <= english or english <= french


def drop_titled_names(entries: list[Entry], least: int = 5) -> list[Entry]:
    """Drop a title before a name that the English copies unchanged.

    "Mme Beth Phinney" → "Ms. Beth Phinney" says nothing that the entry
    "Mme" → "Ms." does not. A word is taken for a title when it has its own
    entry and heads at least `least` such names; "Industrie Canada" →
    "Industry Canada" stays, as does a reordered name ("Université
    Dalhousie" → "Dalhousie University").
    """
    singles = {_fold(entry.source) for entry in entries if len(_words(entry.source)) == 1}
    titled: dict[str, list[int]] = defaultdict(list)
    for index, entry in enumerate(entries):
        french = [_fold(w) for w in _words(entry.source)]
        english = [_fold(w) for w in _words(entry.target)]
        if len(french) > 1 and french[0] in singles and len(english) == len(french) and english[1:] == french[1:]:
            titled[french[0]].append(index)
    dropped = {index for group in titled.values() if len(group) >= least for index in group}
    return [entry for index, entry in enumerate(entries) if index not in dropped]


def drop_nested(best: dict[int, Entry], keys: list[str], settings: Settings) -> list[Entry]:
    """Resolve French candidates that lie inside longer ones.

    With the same rendering only one is kept: the better associated, the
    longer one when they are close. With different renderings the shorter
    goes when it mostly occurs inside the longer one, whose context its
    rendering then reflects ("Nord canadien" inside "Affaires indiennes et
    du Nord canadien").
    """
    index = {_words(keys[f]): f for f in best}
    dropped: set[int] = set()
    for long, long_entry in best.items():
        for part in _parts(_words(keys[long])):
            short = index.get(part)
            if short is None:
                continue
            short_entry = best[short]
            if short_entry.target.lower() == long_entry.target.lower():
                if short_entry.dice > long_entry.dice * settings.nested_tolerance:
                    dropped.add(long)
                else:
                    dropped.add(short)
            elif long_entry.source_count >= settings.inside_share * short_entry.source_count:
                dropped.add(short)
    return [entry for f, entry in best.items() if f not in dropped]


# ------------------------------------------------------------ output


def write_table(entries: Iterable[Entry], output: Path, header: str) -> int:
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with output.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(f"# {header}\n")
        for entry in entries:
            handle.write(f"{entry.source}\t{entry.target}\t{entry.pairs_together}\t"
                         f"{entry.source_count}\t{entry.dice:.3f}\n")
            rows += 1
    return rows


def describe(corpora: dict[str, int], command: str) -> str:
    """The header line: where the table came from and what its columns are."""
    sources = ", ".join(f"{name} ({pairs} pairs)" for name, pairs in corpora.items())
    return (f"French-English name renderings learned from {sources} by: {command}; "
            "columns: source, target, pairs_together, source_count, dice")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m alinea.models.names",
        description="Learn a table of French→English renderings of names from parallel corpora.",
    )
    parser.add_argument("--data", type=Path, required=True, help="directory of NAME.fr.gz / NAME.en.gz pairs")
    parser.add_argument("--output", type=Path, required=True, help="TSV file to write")
    parser.add_argument("--min-count", type=int, default=Settings.min_source_count,
                        help="sentence pairs a French name must occur in (default %(default)s)")
    parser.add_argument("--min-together", type=int, default=Settings.min_pairs_together,
                        help="sentence pairs a name and its rendering must share (default %(default)s)")
    parser.add_argument("--min-dice", type=float, default=Settings.min_dice,
                        help="least Dice association of a kept entry (default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress messages")
    args = parser.parse_args(argv)

    settings = Settings(min_source_count=args.min_count, min_pairs_together=args.min_together,
                        min_dice=args.min_dice)
    log = None if args.quiet else (lambda message: print(message, file=sys.stderr))
    started = time.monotonic()
    try:
        table = learn(args.data, settings, log)
    except (FileNotFoundError, ValueError) as exc:
        parser.error(str(exc))
    command = f"python -m alinea.models.names --data {args.data} --output {args.output}"
    for option, value, default in (("--min-count", args.min_count, Settings.min_source_count),
                                   ("--min-together", args.min_together, Settings.min_pairs_together),
                                   ("--min-dice", args.min_dice, Settings.min_dice)):
        if value != default:
            command += f" {option} {value}"
    rows = write_table(table.entries, args.output, describe(table.corpora, command))
    if log:
        log(f"{rows} entries written to {args.output} in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
