"""The name-rendering learner, on a small synthetic parallel corpus."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from alinea.models.names import Settings, join, learn, main, same_words, tokenize_english, tokenize_french

PAIRS = [
    ("Le président est allé à Moscou hier.", "The president went to Moscow yesterday."),
    ("Nous aimons beaucoup Moscou en hiver.", "We really love Moscow in winter."),
    ("Il a visité Moscou avec sa mère.", "He visited Moscow with his mother."),
    ("Moscou est une très grande ville.", "Moscow is a very big city."),
    ("Le train pour Londres part le matin.", "The train for London leaves in the morning."),
    ("Elle habite à Londres depuis un an.", "She has lived in London for a year."),
    ("Il aime Londres sous la pluie.", "He likes London in the rain."),
    ("Le Canada est membre de l'OTAN.", "Canada is a member of NATO."),
    ("Le chef de l'OTAN est venu.", "The head of NATO came."),
    ("Il parle souvent de l'OTAN.", "He often talks about NATO."),
    ("Le sommet de l'OTAN commence demain.", "The NATO summit starts tomorrow."),
    ("Le pays accueille les Jeux olympiques.", "The country hosts the Olympic Games."),
    ("Il a couru aux Jeux olympiques.", "He ran at the Olympic Games."),
    ("Les enfants regardent les Jeux olympiques.", "The children watch the Olympic Games."),
    ("Il vit en Europe de l'Est depuis longtemps.", "He has lived in Eastern Europe for a long time."),
    ("Le froid arrive en Europe de l'Est.", "The cold is coming to Eastern Europe."),
    ("Le blé pousse bien en Europe de l'Est.", "Wheat grows well in eastern Europe."),
    ("Le chien dort dans le jardin.", "The dog sleeps in the garden."),
    ("Le chat mange le poisson.", "The cat eats the fish."),
    ("Le livre est sur la table.", "The book is on the table."),
    ("Le temps est beau.", "The weather is nice."),
    ("Il pleut depuis le matin.", "It has been raining since the morning."),
    ("Il fait froid dans le nord.", "It is cold in the north."),
    ("Il est tard, il faut partir.", "It is late, we must leave."),
    ("Je pense qu'il viendra.", "I think he will come."),
    ("Tom parle avec Marie.", "Tom talks with Mary."),
    ("Tom a vu le film avec Paul.", "Tom saw the film with Paul."),
    ("Demain, Tom part avec Paul.", "Tomorrow Tom leaves with Paul."),
    ("Le Canada est un grand pays.", "Canada is a big country."),
    ("Nous aimons le Canada.", "We love Canada."),
    ("Il habite au Canada.", "He lives in Canada."),
]


def write_corpus(directory: Path, name: str, pairs: list[tuple[str, str]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with gzip.open(directory / f"{name}.fr.gz", "wt", encoding="utf-8") as fr:
        fr.write("".join(f + "\n" for f, _ in pairs))
    with gzip.open(directory / f"{name}.en.gz", "wt", encoding="utf-8") as en:
        en.write("".join(e + "\n" for _, e in pairs))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    data = tmp_path / "train"
    write_corpus(data, "toy", PAIRS)
    # A second corpus with typographic apostrophes, read as plain ones.
    write_corpus(data, "extra", [("Tout le monde parle de l\u2019OTAN.", "Everyone talks about NATO.")])
    return data


def test_learns_renderings_of_names(corpus: Path) -> None:
    table = learn(corpus)
    renderings = {entry.source: entry.target for entry in table.entries}
    assert renderings["Moscou"] == "Moscow"
    assert renderings["Londres"] == "London"
    assert renderings["OTAN"] == "NATO"
    assert renderings["Jeux olympiques"] == "Olympic Games"
    # "eastern Europe" in lowercase counts for the same name.
    assert renderings["Europe de l'Est"] == "Eastern Europe"
    otan = next(entry for entry in table.entries if entry.source == "OTAN")
    assert (otan.pairs_together, otan.source_count, otan.dice) == (5, 5, 1.0)
    assert table.corpora == {"extra": 1, "toy": len(PAIRS)}


def test_leaves_out_common_words_copies_and_fragments(corpus: Path) -> None:
    sources = {entry.source for entry in learn(corpus).entries}
    # Sentence-initial common words are not names.
    assert not sources & {"Le", "Il", "Les", "Nous", "Elle"}
    # Names written the same in English need no entry.
    assert not sources & {"Canada", "Tom", "Paul"}
    # The longer name is kept, not its first word alone.
    assert "Jeux" not in sources
    assert [e.source for e in learn(corpus).entries] == sorted(sources)


def test_thresholds_apply(corpus: Path) -> None:
    # Londres is seen in three pairs only.
    sources = {entry.source for entry in learn(corpus, Settings(min_source_count=4, min_pairs_together=4)).entries}
    assert "Londres" not in sources
    assert {"Moscou", "OTAN"} <= sources


def test_tokens_and_name_comparison() -> None:
    assert tokenize_french("l'Europe de l'Est, aujourd'hui") == [
        "l'", "Europe", "de", "l'", "Est", ",", "aujourd'hui",
    ]
    assert tokenize_english("Mr. Speaker, O'Brien's") == ["Mr.", "Speaker", ",", "O'Brien", "'s"]
    assert join(["Europe", "de", "l'", "Est"]) == "Europe de l'Est"
    assert same_words("René Laurin", "Rene Laurin")
    assert same_words("Mme Deborah Grey", "Deborah Grey")
    assert not same_words("Europe de l'Est", "Eastern Europe")


def test_command_writes_the_table(corpus: Path, tmp_path: Path) -> None:
    output = tmp_path / "out" / "names.fr-en.tsv"
    assert main(["--data", str(corpus), "--output", str(output), "--quiet"]) == 0
    lines = output.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ") and "toy (31 pairs)" in lines[0] and "--data" in lines[0]
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(row) == 5 for row in rows)
    assert ["Moscou", "Moscow", "4", "4", "1.000"] in rows
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)


def test_data_directory_without_pairs_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "only.fr.gz").write_bytes(gzip.compress(b"Bonjour\n"))
    with pytest.raises(FileNotFoundError, match="NAME.fr.gz"):
        learn(tmp_path)
    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path), "--output", str(tmp_path / "out.tsv")])
    assert "no corpus pair" in capsys.readouterr().err


def test_unequal_line_counts_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "bad.fr.gz").write_bytes(gzip.compress(b"Un\nDeux\n"))
    (tmp_path / "bad.en.gz").write_bytes(gzip.compress(b"One\n"))
    with pytest.raises(ValueError, match="same number of lines"):
        learn(tmp_path)
