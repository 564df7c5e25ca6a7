from alinea.server.align import align, piece_argmax_links, words
from alinea.server.records import Span


def spans(text: str, parts: list[str]) -> list[Span]:
    out, cursor = [], 0
    for part in parts:
        start = text.index(part, cursor)
        out.append(Span(start, start + len(part)))
        cursor = start + len(part)
    return out


def test_words_split_punctuation_and_keep_inner_hyphens():
    text = "L’Otan, vis-à-vis de Pékin."
    assert [s.of(text) for s in words(text)] == ["L’Otan", ",", "vis-à-vis", "de", "Pékin", "."]


def test_attention_becomes_word_links():
    source = "Le chat dort."
    target = "The cat sleeps."
    source_pieces = spans(source, ["Le", "ch", "at", "dort", "."])
    target_pieces = spans(target, ["The", "cat", "sle", "eps", "."])
    # rows: target pieces; columns: source pieces + </s>
    attention = [
        [0.9, 0.0, 0.0, 0.0, 0.0, 0.1],
        [0.0, 0.2, 0.7, 0.0, 0.0, 0.1],
        [0.0, 0.0, 0.0, 0.8, 0.1, 0.1],
        [0.1, 0.0, 0.0, 0.6, 0.2, 0.1],
        [0.0, 0.0, 0.0, 0.1, 0.8, 0.1],
    ]
    links = align(words(source), source_pieces, words(target), target_pieces, attention)
    pairs = [(a.source.of(source), a.target.of(target)) for a in links]
    assert pairs == [("Le", "The"), ("chat", "cat"), ("dort", "sleeps"), (".", ".")]


def test_a_stray_argmax_is_dropped_when_the_other_direction_disagrees():
    source = "Le chat dort."
    target = "The cat sleeps."
    source_pieces = spans(source, ["Le", "chat", "dort", "."])
    target_pieces = spans(target, ["The", "cat", "sleeps", "."])
    attention = [
        [0.9, 0.0, 0.0, 0.0, 0.1],
        [0.0, 0.9, 0.0, 0.0, 0.1],
        [0.0, 0.0, 0.9, 0.0, 0.1],
        [0.5, 0.0, 0.0, 0.4, 0.1],  # "." attends to "Le" most, but "Le" attends to "The" most
    ]
    links = align(words(source), source_pieces, words(target), target_pieces, attention)
    pairs = [(a.source.of(source), a.target.of(target)) for a in links]
    assert pairs == [("Le", "The"), ("chat", "cat"), ("dort", "sleeps")]
    naive = piece_argmax_links(source_pieces, words(source), target_pieces, words(target), attention)
    assert (0, 3) in naive  # what reading one direction alone would have linked


def test_eos_column_is_never_linked():
    source, target = "Oui", "Yes"
    links = align(words(source), [Span(0, 3)], words(target), [Span(0, 3)], [[0.1, 0.9]])
    assert [(a.source.of(source), a.target.of(target)) for a in links] == [("Oui", "Yes")]


def test_nothing_to_align():
    assert align(words(""), [], words("Yes"), [Span(0, 3)], [[1.0]]) == ()
    assert align(words("Oui"), [Span(0, 3)], words("Yes"), [Span(0, 3)], []) == ()
