"""Tests of promptrec.parsing_match: title forms, and resolving label and title mentions against candidates."""

from __future__ import annotations

from promptrec.parsing_match import FUZZY_BUDGET, Matcher, Mention, Resolved, title_forms

TITLES = ["Matrix, The (1999)", "Alien (1979)", "Aliens (1986)", "Up (2009)", "Toy Story (1995)"]
LABELS = ["A", "B", "C", "D", "E"]


def matcher(history=()):
    return Matcher(LABELS, TITLES, history)


def test_title_forms_move_the_article_back_and_drop_the_year():
    assert title_forms("Matrix, The (1999)") == ["matrix the 1999", "the matrix 1999", "matrix the", "the matrix"]
    assert title_forms("Matrix, The (1999)") == title_forms("Matrix, The (1999)")
    assert title_forms("Up (2009)") == ["up 2009", "up"]


def test_a_title_inside_a_mention_is_found_where_it_starts_first():
    m = matcher()
    # the item's own title comes first; the one in its reason does not count, however long
    assert m.index(Mention("text", "Alien, darker than The Matrix")) == 1
    assert m.index(Mention("text", "The Matrix: better than Alien")) == 0
    assert m.index(Mention("text", "Aliens is the sequel")) == 2  # a longer title is not read as "Alien"


def test_a_segment_holds_only_a_few_words_besides_its_title():
    m = matcher()
    assert m.index(Mention("segment", "I'd put Alien first")) == 1
    assert m.index(Mention("segment", "a great film that is nothing at all like Alien")) is None
    assert m.index(Mention("text", "a great film that is nothing at all like Alien")) == 1


def test_labels_and_lower_case_letters():
    m = matcher()
    assert m.index(Mention("label", "c")) == 2  # a reader that found a label in context
    assert m.index(Mention("text", "C")) == 2
    assert m.index(Mention("text", "c")) is None  # a lone lower-case letter in prose is no label
    assert m.label("**[d]**") == 3 and m.label("Z") is None


def test_typos_history_and_invented_titles():
    m = matcher(history=["Se7en (1995)"])
    assert m.index(Mention("text", "Toy Stroy")) == 4
    assert m.index(Mention("text", "Se7en")) == "history"
    assert m.index(Mention("text", "Blade Runner")) is None


def test_fuzzy_comparisons_stop_at_the_budget_and_lookups_are_memoised():
    m = matcher()
    for i in range(FUZZY_BUDGET):
        m.index(Mention("text", f"invented title {i:05d}"))
    assert m.index(Mention("text", "Toy Stroy")) is None  # past the budget only exact and contained titles match
    assert m.index(Mention("text", "toy story (1995)")) == 4
    assert len(m._memo) == FUZZY_BUDGET + 2


def test_resolve_reports_what_it_dropped_and_whether_it_is_credible():
    m = matcher(history=["Se7en (1995)"])
    resolved = m.resolve([Mention("label", "C"), Mention("text", "Alien"), Mention("text", "Blade Runner"),
                          Mention("text", "Se7en"), Mention("prose", "a very long sentence " * 3),
                          Mention("label", "A")])
    assert resolved == Resolved(order=[2, 1, 0], duplicates=[], hallucinated=["Blade Runner"], history=["Se7en"],
                                prose=["a very long sentence " * 3])
    assert resolved.credible
    assert not m.resolve([Mention("text", "Alien"), Mention("text", "X"), Mention("text", "Y")]).credible
