"""The English form an entity found in French text should take.

Names keep their source form unless a well-kept source gives an
established English name: CLDR (through Babel) for countries, regions and
the cities that name time zones, then a table learned from the parallel
training corpora (server/data/names.fr-en.tsv, built by
`python -m alinea.models.names`). Numbers, dates and percentages are
converted to English conventions with Babel's CLDR data rather than
hand-written tables; a French date or number is recognised by the rules in
`alinea.server.entities`.

A Rendering lists every form a reader would accept ("February 2" or
"2 February"); the first is the one the service writes when it repairs a
translation.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_skeleton, get_month_names
from babel.numbers import format_decimal

NAMES_TABLE = Path(__file__).resolve().parent / "data" / "names.fr-en.tsv"

# Source of each rendering, most trusted first; reported to callers as the reason for a form.
GLOSSARY, CLDR, LEARNED, CONVERTED, VERBATIM = "glossary", "cldr", "learned", "converted", "verbatim"


@dataclass(frozen=True)
class Rendering:
    forms: tuple[str, ...]  # acceptable target forms, the preferred one first
    origin: str  # GLOSSARY, CLDR, LEARNED, CONVERTED or VERBATIM

    @property
    def expected(self) -> str:
        return self.forms[0]


def key(text: str) -> str:
    """Lookup key: typographic apostrophes and spaces folded, case ignored."""
    text = text.replace("’", "'").replace("\u00a0", " ").replace("\u202f", " ")
    return " ".join(text.split()).casefold()


def _fold_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


@functools.cache
def cldr_names(source: str = "fr", target: str = "en") -> dict[str, str]:
    """Territory names (countries, regions such as "Europe de l’Est") and time-zone cities, source → target.

    City entries whose forms differ only by accents or carry a qualifier
    ("Tripoli (Libye)") are left out: the English exemplar strips accents
    that English writers keep (Córdoba).
    """
    src, tgt = Locale.parse(source), Locale.parse(target)
    names: dict[str, str] = {}
    for zone, data in src.time_zones.items():
        city = data.get("city")
        english = tgt.time_zones.get(zone, {}).get("city") or zone.rsplit("/", 1)[-1].replace("_", " ")
        if not city or re.search(r"[\[(,]", city + english) or _fold_accents(city) == _fold_accents(english):
            continue
        names.setdefault(key(city), english)
    for code, name in src.territories.items():
        english = tgt.territories.get(code)
        if english and code != "001":  # "Monde" → "world" is not a name
            names[key(name)] = english  # territories win over a city of the same name
    return names


@functools.cache
def learned_names(path: Path = NAMES_TABLE) -> dict[str, str]:
    """source → target from the learned table; empty when the file is absent."""
    names: dict[str, str] = {}
    if not path.exists():
        return names
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        source, target, *_ = line.split("\t")
        if source == "source":  # header
            continue
        names.setdefault(key(source), target)
    return names


def name(text: str, glossary: dict[str, str] | None = None) -> Rendering | None:
    """The established English form of a name, or None when no source knows it."""
    k = key(text)
    if glossary and k in glossary:
        return Rendering((glossary[k],), GLOSSARY)
    if k in cldr_names():
        return Rendering((cldr_names()[k],), CLDR)
    if k in learned_names():
        return Rendering((learned_names()[k],), LEARNED)
    return None


# -- numbers, dates, percentages -------------------------------------------------

# French groups thousands with a (narrow) space or, in the press, a dot; the decimal mark is a comma.
_GROUPED = re.compile(r"\d{1,3}(?:[.\u00a0\u202f ]\d{3})+(?:,\d+)?|\d+(?:,\d+)?")


def french_number(text: str) -> Decimal:
    """'100.000' → 100000, '3,5' → 3.5, '1 250 000' → 1250000; ValueError otherwise."""
    text = text.strip()
    if not _GROUPED.fullmatch(text):
        raise ValueError(f"not a French number: {text!r}")
    digits = re.sub(r"[.\u00a0\u202f ]", "", text).replace(",", ".")
    try:
        return Decimal(digits)
    except InvalidOperation:
        raise ValueError(f"not a French number: {text!r}") from None


def number(text: str) -> Rendering:
    """English digits for a French number: '100.000' → '100,000' (also accepted: '100000')."""
    value = french_number(text)
    english = format_decimal(value, locale="en", decimal_quantization=False)
    plain = format_decimal(value, locale="en", group_separator=False, decimal_quantization=False)
    return Rendering(tuple(dict.fromkeys((english, plain))), CONVERTED)


def percentage(number_text: str) -> Rendering:
    """'3,5' (of '3,5 %') → '3.5%', also '3.5 %', '3.5 percent', '3.5 per cent'."""
    value = number(number_text).expected
    return Rendering((f"{value}%", f"{value} %", f"{value} percent", f"{value} per cent"), CONVERTED)


@functools.cache
def french_months() -> dict[str, int]:
    """Month names in French, with and without accents → 1..12.

    Abbreviations are left out: "sept" is also the number seven.
    """
    months: dict[str, int] = {}
    for month, name_ in get_month_names("wide", locale="fr").items():
        for form in (name_, _fold_accents(name_)):
            months.setdefault(form.casefold(), month)
    return months


def day_month(day: int, month: int, year: int | None) -> Rendering:
    """An English date, US order first: 'February 4, 2022' and '4 February 2022'; ValueError if impossible."""
    when = date(year or 2000, month, day)  # 2000 is a leap year: 29 February stays valid without a year
    if year is None:
        return Rendering((format_skeleton("MMMMd", when, locale="en"), format_skeleton("dMMMM", when, locale="en_GB")),
                         CONVERTED)
    return Rendering((format_date(when, "long", locale="en"), format_date(when, "long", locale="en_GB")), CONVERTED)


def month_year(month: int, year: int) -> Rendering:
    when = date(year, month, 1)
    return Rendering((format_skeleton("yMMMM", when, locale="en"),), CONVERTED)
