from hypothesis import given, settings
from hypothesis import strategies as st

from alinea.server.segment import segment
from conftest import SEED_FR


def texts(text: str) -> list[str]:
    return [s.text for s in segment(text)]


def test_seed_article_sentences():
    text = SEED_FR.read_text(encoding="utf-8")
    sentences = segment(text)
    assert len(sentences) == 19
    assert [s.paragraph for s in sentences] == [0, 1, 1, 2, 2, 3, 3, 4, 5, 5, 6, 6, 7, 7, 7, 8, 9, 9, 10]
    by_text = [s.text for s in sentences]
    # "(…)" in mid-sentence does not end it; 100.000 is a number.
    assert any("de la Chine (…) notamment sur les questions de sécurité" in t for t in by_text)
    assert any("les 100.000 militaires russes" in t for t in by_text)
    # The stray "L" at the end of a paragraph is a segment of its own.
    assert by_text[9] == "L"
    assert by_text[8].endswith("son voisin pro-occidental.")
    # Quotes stay with their sentence.
    assert by_text[3].startswith("«Une déclaration commune") and by_text[3].endswith("de Vladimir Poutine.")
    assert by_text[18].endswith("relations\u00a0».")


def test_offsets_reproduce_the_text():
    text = SEED_FR.read_text(encoding="utf-8")
    for s in segment(text):
        assert text[s.span.start : s.span.end] == s.text


def test_abbreviations_and_initials_do_not_end_sentences():
    assert texts("M. Dupont est là. Mme Durand aussi.") == ["M. Dupont est là.", "Mme Durand aussi."]
    assert texts("Voir l'art. 3 du code. Puis J. Martin parle.") == ["Voir l'art. 3 du code.", "Puis J. Martin parle."]


def test_other_terminators():
    assert texts("Vraiment ? Oui ! Enfin… Bon. «Allez.» Il part.") == [
        "Vraiment ?", "Oui !", "Enfin…", "Bon.", "«Allez.»", "Il part."]
    assert texts("Il a dit «non.» puis il est parti.") == ["Il a dit «non.» puis il est parti."]
    assert texts("« Je pars. » Il est parti.") == ["« Je pars. »", "Il est parti."]
    assert texts("« Je pars\u00a0! » a-t-il dit.") == ["« Je pars\u00a0! » a-t-il dit."]
    assert texts("Le taux est de 3.5 pour cent. Voilà.") == ["Le taux est de 3.5 pour cent.", "Voilà."]


def test_lines_and_paragraphs():
    sentences = segment("Un titre\nUne phrase. Une autre.\n\n\nDeuxième paragraphe\r\n")
    assert [(s.paragraph, s.text) for s in sentences] == [
        (0, "Un titre"), (0, "Une phrase."), (0, "Une autre."), (1, "Deuxième paragraphe")]


def test_long_sentences_are_cut_not_truncated():
    text = "mot, " * 500
    pieces = segment(text, max_chars=100)
    assert all(len(s.text) <= 100 for s in pieces)
    assert "".join(s.text for s in pieces).replace(" ", "") == text.replace(" ", "")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_spans_cover_every_visible_character(text):
    sentences = segment(text, max_chars=50)
    covered = set()
    last_end = 0
    for i, s in enumerate(sentences):
        assert s.index == i
        assert last_end <= s.span.start < s.span.end
        assert text[s.span.start : s.span.end] == s.text
        assert s.text == s.text.strip() and len(s.text) <= 50
        covered.update(range(s.span.start, s.span.end))
        last_end = s.span.end
    visible = {i for i, c in enumerate(text) if not c.isspace()}
    assert visible <= covered
