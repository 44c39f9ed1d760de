"""Tests of the answer parser: a table of messy, realistic answers with exact outcomes, properties, helpers."""

from __future__ import annotations

import logging
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptrec.parsing import label_alphabet, normalize_text, parse_ranking

# Five candidates, shown to the model as [A]..[E].
LABELS5 = label_alphabet(5)
TITLES5 = ["The Matrix", "Toy Story", "Alien", "Heat", "Up"]

# Thirty candidates, shown as [1]..[30] (label == index + 1).
TITLES30 = [
    "Alien", "Heat", "Up", "The Matrix", "Toy Story", "Casablanca", "Vertigo", "Jaws", "Rocky", "Fargo",
    "Psycho", "Amelie", "Gladiator", "Inception", "Memento", "Titanic", "Goodfellas", "Se7en", "Braveheart",
    "Chinatown", "Rashomon", "Metropolis", "Amadeus", "Unforgiven", "Ratatouille", "Coco", "Zodiac", "Oldboy",
    "Parasite", "Whiplash",
]
LABELS30 = label_alphabet(30)

# Five candidates titled as MovieLens titles them (library order, year), shown as [A]..[E].
TITLES_ML = ["Matrix, The (1999)", "Toy Story (1995)", "Alien (1979)", "Heat (1995)", "Up (2009)"]

#: candidate sets by name: (labels, titles)
SETS = {5: (LABELS5, TITLES5), 30: (LABELS30, TITLES30), "ml": (LABELS5, TITLES_ML)}


def case(
    text,
    order,
    fmt,
    *,
    n=5,
    id,
    duplicates=(),
    hallucinated=(),
    history=(),
    stripped=False,
    truncated=False,
    fallback=None,
    history_titles=(),
):
    """One row of the table. ``order`` lists the labels the answer validly names, best first.

    The expected full order is those labels followed by the rest in fallback order; ``valid`` is their count and
    ``missing`` the labels of the rest.
    """
    labels = SETS[n][0]
    named = [labels.index(label) for label in order]
    base = list(fallback) if fallback is not None else list(range(len(labels)))
    rest = [i for i in base if i not in named]
    expected = {
        "order": named + rest,
        "format": fmt,
        "valid": len(named),
        "duplicates": list(duplicates),
        "hallucinated": list(hallucinated),
        "history": list(history),
        "missing": [labels[i] for i in rest],
        "stripped_reasoning": stripped,
        "truncated": truncated,
    }
    kwargs = {"fallback": fallback, "history_titles": list(history_titles), "truncated": truncated}
    return pytest.param(text, n, kwargs, expected, id=id)


CASES = [
    # --- the requested format and its variants ---
    case("[C] > [A] > [B] > [E] > [D]", "CABED", "arrow", id="clean-arrow"),
    case("[c]>[a]>[b]", "CAB", "arrow", id="arrow-lowercase-no-spaces"),
    case("[C] > [A] > [\n", "CA", "arrow", truncated=True, id="truncated-mid-arrow"),
    case(
        "[C] → [A] → [B]", "CAB", "arrow", id="arrow-unicode-arrows",
    ),
    # --- JSON ---
    case('["C","A"]', "CA", "json", id="json-labels"),
    case('{"ranking": ["B", "A"]}', "BA", "json", id="json-object"),
    case('["Alien", "The Matrix (1999)", "toy story", "Up", "Heat"]', "CABED", "json", id="json-titles"),
    case(
        '[{"label": "C", "reason": "dark sci-fi"}, {"label": "E", "reason": "heartwarming"}, {"label": "A"}]',
        "CEA", "json", id="json-objects-label",
    ),
    case('[{"rank": 1, "title": "Heat"}, {"rank": 2, "title": "Alien"}]', "DC", "json", id="json-objects-title"),
    case('```json\n["C", "A", "B", "E", "D"]\n```', "CABED", "json", id="json-code-fence"),
    case('["Alien", "Blade Runner", "The Matrix"]', "CA", "json", hallucinated=["Blade Runner"], id="json-invented-title"),
    case(
        'The user prefers ["Sci-Fi", "Action"] genres.\n["C", "A", "B"]', "CAB", "json", id="json-after-unrelated-json",
    ),
    case(
        '["C", "A", ', "CA", "json", truncated=True, id="json-truncated",
    ),
    # --- numbered and bulleted lines ---
    case(
        "1. [C] Alien\n2. [A] The Matrix\n3. [B] Toy Story\n4. [E] Up\n5. [D] Heat", "CABED", "list",
        id="numbered-bracket-labels-and-titles",
    ),
    case("1. C - Alien\n2. A - The Matrix\n3. B - Toy Story", "CAB", "list", id="numbered-bare-labels"),
    case(
        "1. Alien - a classic\n2. The Matrix - mind-bending action\n3. Toy Story (because you enjoy animation)",
        "CAB", "list", id="numbered-titles-with-comments",
    ),
    case("- Toy Story\n- Heat\n- The Matrix", "BDA", "list", id="bullet-titles"),
    case("* B\n* D\n* A", "BDA", "list", id="bullet-labels"),
    case("1. The Matirx\n2. Alein\n3. Toy Stroy", "ACB", "list", id="numbered-titles-with-typos"),
    case(
        "1. Up - a Pixar film\n2. The Matirx\n3. Alien", "EAC", "list", id="numbered-title-up",
    ),
    case(
        "**Top picks for you:**\n\n1. **Alien** - a classic\n2. **The Matrix**\n3. **Toy Story**\n\n---\n*Enjoy!*",
        "CAB", "list", id="markdown-headed-list",
    ),
    case(
        "Here is my ranking for you.\n\n**Ranking:**\n1. Alien\n2. The Matrix", "CA", "list", stripped=True,
        id="markdown-bold-answer-marker",
    ),
    # --- bare label sequences ---
    case("C, A, B", "CAB", "labels", id="bare-comma"),
    case("C > A > B > E > D", "CABED", "labels", id="bare-arrow"),
    case("**C, A, B**", "CAB", "labels", id="bare-bold"),
    case("**[C] > [A] > [B]**", "CAB", "arrow", id="arrow-bold"),
    case("```\n[C] > [A] > [B]\n```", "CAB", "arrow", id="arrow-code-fence"),
    # --- reasoning around the answer ---
    case(
        "Sure! Based on your history of thrillers, I think you will enjoy these.\n\nAnswer: [B] > [A] > [C]",
        "BAC", "arrow", stripped=True, id="prose-preamble-answer",
    ),
    case(
        "Looking at [D] Heat first: too slow for this user.\nFinal answer: [B] > [A] > [C] > [E] > [D]",
        "BACED", "arrow", stripped=True, id="preamble-with-decoy-label",
    ),
    case(
        "<think>The user loves crime films, so maybe [D] > [E] > [A]. Hmm, no.</think>\n[C] > [A] > [B]",
        "CAB", "arrow", stripped=True, id="think-block-with-decoys",
    ),
    case(
        "The user watched Heat twice, so [D] > [E].\n</think>\n\n[A] > [C] > [B]",
        "ACB", "arrow", stripped=True, id="dangling-close-think",
    ),
    case(
        "<think>The user likes [D] and [E], so maybe [D] > [E] > ", "", "none", stripped=True, truncated=True,
        id="unclosed-think-truncated",
    ),
    case(
        "Ranking: C > A > B", "CAB", "labels", id="answer-marker-without-reasoning",
    ),
    # --- full-width characters ---
    case("［Ｃ］＞［Ａ］＞［Ｂ］", "CAB", "arrow", id="fullwidth-arrow"),
    case("Ｃ，Ａ，Ｂ", "CAB", "labels", id="fullwidth-bare"),
    # --- invented items, duplicates, history ---
    case("[C] > [Z] > [A] > [B]", "CAB", "arrow", hallucinated=["Z"], id="invented-label"),
    case("[C] > [A] > [C] > [B] > [A]", "CAB", "arrow", duplicates=["C", "A"], id="duplicates"),
    case(
        '["Alien", "Blade Runner", "Toy Story"]', "CB", "json", history=["Blade Runner"],
        history_titles=["Blade Runner", "Se7en"], id="history-title",
    ),
    case(
        '["Aliens", "Toy Story 2", "Heat"]', "D", "json", history=["Aliens", "Toy Story 2"],
        history_titles=["Aliens", "Toy Story 2"], id="history-title-close-to-candidate",
    ),
    case(
        '1. "Se7en (1995)" (Crime, Thriller)\n2. "Blade Runner (1982)" (Sci-Fi)\n3. "Drive (2011)" (Crime)', "", "none",
        history=["Se7en (1995)"], hallucinated=["Blade Runner (1982)", "Drive (2011)"], history_titles=["Se7en (1995)"],
        id="list-naming-no-candidate-still-reports-its-items",
    ),
    # --- nothing usable ---
    case("", "", "none", id="empty"),
    case("I cannot help with that.", "", "none", id="refusal"),
    case(
        "I'm sorry, I can't rank these. Please look them up yourself.", "", "none", id="refusal-with-word-up",
    ),
    # --- fallback order ---
    case("[D]", "D", "labels", fallback=[4, 3, 2, 1, 0], id="custom-fallback"),
    case("No.", "", "none", fallback=[2, 4, 0, 1, 3], id="refusal-custom-fallback"),
    # --- thirty candidates, numeric labels ---
    case("[12] > [3] > [30] > [1]", ["12", "3", "30", "1"], "arrow", n=30, id="n30-arrow"),
    case("［１２］＞［３］＞［３０］", ["12", "3", "30"], "arrow", n=30, id="n30-fullwidth-digits"),
    case(
        "[3] > [31] > [0] > [12]", ["3", "12"], "arrow", n=30, hallucinated=["31", "0"], id="n30-out-of-range",
    ),
    case("1. 12\n2. 3\n3. 30", ["12", "3", "30"], "list", n=30, id="n30-numbered-labels"),
    case("[12, 3, 30]", ["12", "3", "30"], "json", n=30, id="n30-json-ints"),
    case('[{"id": 12}, {"id": "3"}]', ["12", "3"], "json", n=30, id="n30-json-objects-id"),
    case("12, 3, 30", ["12", "3", "30"], "labels", n=30, id="n30-bare"),
    case("１２ > ３ > ３０", ["12", "3", "30"], "labels", n=30, id="n30-fullwidth-bare"),
    case("1. Inception\n2. Memento\n3. Parasite (2019)", ["14", "15", "29"], "list", n=30, id="n30-numbered-titles"),
    # --- shapes hosted chat models write that older versions of this parser missed ---
    case(
        "1. (C) Alien\n2. (A) The Matrix\n3. (B) Toy Story\n4. (E) Up\n5. (D) Heat", "CABED", "list",
        id="numbered-parenthesised-label-before-title",
    ),
    case("1. (C)\n2. (A)\n3. (B)", "CAB", "list", id="numbered-parenthesised-labels-only"),
    case("C\nA\nB\nE\nD", "CABED", "labels", id="one-bare-label-per-line"),
    case("**C** > **A** > **B** > **E** > **D**", "CABED", "labels", id="bold-labels-arrow"),
    case("**C**, **A**, **B**", "CAB", "labels", id="bold-labels-comma"),
    case("1. **C** - Alien\n2. **A** - The Matrix", "CA", "list", id="numbered-bold-label-and-title"),
    case("1. Candidate C: Alien\n2. Candidate A: The Matrix", "CA", "list", id="numbered-candidate-word-label"),
    case("alien > the matrix > toy story > up > heat", "CABED", "titles", id="lower-case-titles-arrow"),
    case("alien, the matrix, toy story, up, heat", "CABED", "titles", id="lower-case-titles-comma"),
    case("1. alien\n2. up\n3. heat", "CED", "list", id="lower-case-titles-numbered"),
    case('["Matrix, The (1999)", "Alien (1979)"]', "AC", "json", id="library-order-title-in-answer"),
    case("1. The Matrix\n2. Up\n3. Heat", "AED", "list", n="ml", id="library-order-candidates-natural-answer"),
    case("The Matrix > Up > Heat > Alien", "AEDC", "titles", n="ml", id="library-order-candidates-arrow"),
    case('["Up (2009)", "Matrix, The (1999)"]', "EA", "json", n="ml", id="library-order-candidates-json"),
    case(
        "I would rank C first, then A, then B, followed by E and D.", "CABED", "labels",
        id="sentence-names-labels-in-order",
    ),
    case("My ranking is C, followed by A and then B.", "CAB", "labels", id="sentence-label-a-before-and"),
    case(
        "I think C fits best. A great film like Alien is hard to beat, then E.", "CE", "labels",
        id="sentence-article-a-and-pronoun-i-are-not-labels",
    ),
    case('{"ranking": ["C", "A", "C", "B"]}', "CAB", "json", duplicates=["C"], id="structured-output-repeated-label"),
    # --- castorini/rank_llm: RankGPT's "[2] > [3] > [1]", the bare "4 > 3 > 2 > 1" of its response-analysis
    #     tests, the cut-off "> [1] > ... > [5" of its generation test, </think> splitting, and the look-alike
    #     digits its _clean_response translates (circled, superscript, full-width) ---
    case("[2] > [3] > [1]", ["2", "3", "1"], "arrow", n=30, id="rank_llm-rankgpt-arrow"),
    case("1 > 2 > 3", ["1", "2", "3"], "labels", n=30, id="rank_llm-bare-numbers"),
    case("4 > 3 > 2 > 1", ["4", "3", "2", "1"], "labels", n=30, id="rank_llm-bare-numbers-reversed"),
    case(
        "> [1] > [2] > [3] > [4] > [5", ["1", "2", "3", "4", "5"], "arrow", n=30, truncated=True,
        id="rank_llm-cut-off-generation",
    ),
    case("[3] > [3] > [1]", ["3", "1"], "arrow", n=30, duplicates=["3"], id="rank_llm-repeated-identifier"),
    case(
        "Let me compare [4] and [2] first.</think>\n[2] > [4] > [1]", ["2", "4", "1"], "arrow", n=30,
        stripped=True, id="rank_llm-think-close-split",
    ),
    case("① > ③ > ②", ["1", "3", "2"], "labels", n=30, id="rank_llm-circled-digits"),
    case("[⑫] > [③] > [¹⁵]", ["12", "3", "15"], "arrow", n=30, id="rank_llm-circled-and-superscript-in-brackets"),
    case("i cannot help with that", [], "none", n=30, id="rank_llm-refusal"),
    # --- microsoft/RecAI RecLM-eval: each title followed by <end> ---
    case("Alien<end>The Matrix<end>Toy Story<end>", "CAB", "titles", id="reclm-eval-end-separated"),
    case("Alien <end> The Matrix <end> Toy Story <end>", "CAB", "titles", id="reclm-eval-end-separated-spaces"),
    case(
        "Alien<end>Blade Runner<end>Heat<end>", "CD", "titles", hallucinated=["Blade Runner"],
        id="reclm-eval-end-separated-invented-title",
    ),
    case("1. Alien<end>\n2. The Matrix<end>", "CA", "list", id="reclm-eval-numbered-end-lines"),
    # --- RUCAIBox/LLMRank: ML-1M's "1. Title" lines after a heading, the candidates' own order numbers
    #     repeated, Games' order numbers one per line, and step-by-step reasoning before the ranking ---
    case(
        "Based on your watching history, here are the ranked candidate movies:\n1. Alien\n2. The Matrix\n3. Toy Story",
        "CAB", "list", id="llmrank-ml1m-numbered-titles",
    ),
    case("2. Alien\n0. The Matrix\n1. Toy Story", "CAB", "list", id="llmrank-candidate-numbers-repeated"),
    case("12\n3\n30", ["12", "3", "30"], "labels", n=30, id="llmrank-games-numbers-per-line"),
    case(
        "Step 1: The user watched sci-fi films.\nStep 2: Alien fits best.\n\nRanking:\n1. Alien\n2. Heat\n3. Up",
        "CDE", "list", stripped=True, id="llmrank-step-by-step",
    ),
]


@pytest.mark.parametrize(("text", "n", "kwargs", "expected"), CASES)
def test_parse_table(text, n, kwargs, expected):
    labels, titles = SETS[n]
    order, report = parse_ranking(text, labels, titles, **kwargs)
    actual = {
        "order": order,
        "format": report.format,
        "valid": report.valid,
        "duplicates": report.duplicates,
        "hallucinated": report.hallucinated,
        "history": report.history,
        "missing": report.missing,
        "stripped_reasoning": report.stripped_reasoning,
        "truncated": report.truncated,
    }
    assert actual == expected


def test_pure_prose_returns_fallback_order_unchanged():
    fallback = [3, 1, 4, 0, 2]
    order, report = parse_ranking("I cannot help with that.", LABELS5, TITLES5, fallback=fallback)
    assert order == fallback
    assert report.format == "none" and report.valid == 0 and not report.usable
    assert report.missing == ["D", "B", "E", "A", "C"]


def test_partial_fallback_is_completed_in_shown_order():
    order, report = parse_ranking("[B]", LABELS5, TITLES5, fallback=[4, 99, -1])
    assert order == [1, 4, 0, 2, 3]
    assert report.missing == ["E", "A", "C", "D"]


def test_fallback_with_repeated_index_still_gives_a_permutation():
    order, report = parse_ranking("[B]", LABELS5, TITLES5, fallback=[2, 2, 0])
    assert order == [1, 2, 0, 3, 4]
    assert report.missing == ["C", "A", "D", "E"]


def test_degenerate_bracket_repetition_keeps_the_ranking():
    order, report = parse_ranking("[C] > [A] > [B]\n" + "[" * 3000, LABELS5, TITLES5)
    assert order == [2, 0, 1, 3, 4]
    assert report.format == "arrow" and report.valid == 3


@pytest.mark.parametrize(
    "text", ["[C] > [A]" + "\n" * 8000, "1. Alien" + " " * 12000 + "."], ids=["newlines", "spaces-in-list-line"]
)
def test_runaway_whitespace_is_parsed(text):
    # small models produce runaway whitespace; the parser's expressions work on whitespace-collapsed lines,
    # so this stays linear (no wall-clock assertion here: see eval/ for timings)
    order, _ = parse_ranking(text, LABELS5, TITLES5)
    assert order[0] == 2


def test_none_text_does_not_raise():
    order, report = parse_ranking(None, LABELS5, TITLES5)  # type: ignore[arg-type]
    assert order == [0, 1, 2, 3, 4] and report.format == "none"


def test_report_flags():
    _, clean = parse_ranking("[C] > [A] > [B] > [E] > [D]", LABELS5, TITLES5)
    assert clean.usable and not clean.repaired and not clean.truncated
    _, partial = parse_ranking("[C] > [A]", LABELS5, TITLES5, truncated=True)
    assert partial.usable and partial.repaired and partial.truncated


# --- properties --------------------------------------------------------------------------------------------

POOL_TITLES = TITLES30 + ["Blade Runner", "Aliens", "Toy Story 2", "Heat 2", "Amélie", "ＡＬＩＥＮ", "WALL·E"]


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def check_invariants(text, n, titles, fallback=None, history_titles=()):
    labels = label_alphabet(n)
    handler = _Collect()
    logger = logging.getLogger("promptrec.parsing")
    logger.addHandler(handler)
    try:
        order, report = parse_ranking(text, labels, titles, fallback=fallback, history_titles=history_titles)
    finally:
        logger.removeHandler(handler)
    # the parser's own safety net must not be what keeps it from raising
    assert not handler.records, [r.getMessage() for r in handler.records]
    assert sorted(order) == list(range(n))
    assert 0 <= report.valid <= n
    assert len(report.missing) == n - report.valid
    assert report.missing == [labels[i] for i in order[report.valid:]]
    assert set(report.missing) <= set(labels)
    assert report.duplicates == [] or set(report.duplicates) <= set(labels[i] for i in order[: report.valid])
    if fallback is not None:
        assert order[report.valid:] == [i for i in fallback if i not in order[: report.valid]]
    return order, report


candidate_counts = st.integers(min_value=1, max_value=40)


@st.composite
def candidate_sets(draw):
    n = draw(candidate_counts)
    titles = draw(st.lists(st.sampled_from(POOL_TITLES), min_size=n, max_size=n, unique=n <= len(POOL_TITLES)))
    return n, titles


@settings(max_examples=200, deadline=None)
@given(text=st.text(), candidates=candidate_sets())
def test_any_text_gives_a_permutation(text, candidates):
    n, titles = candidates
    check_invariants(text, n, titles)


@st.composite
def answer_like_texts(draw):
    n, titles = draw(candidate_sets())
    labels = label_alphabet(n)
    piece = st.one_of(
        st.sampled_from(labels),
        st.sampled_from(labels).map(lambda label: f"[{label}]"),
        st.sampled_from(["A", "Z", "AA", "0", "31", "41", "99", "[Z]", "[31]", "[0]"]),
        st.sampled_from(titles + ["Blade Runner", "Aliens", "Up", "up"]),
        st.sampled_from(
            ["[", "]", "{", "}", '"', "'", ",", ":", " > ", ">", " ", "\n", "\n1. ", "\n- ", "\n* ", "**", "```",
             "<think>", "</think>", "<reasoning>", "Answer:", "\nFinal answer: ", "→", "［", "］", "＞", "１", "Ａ",
             '{"ranking": [', '"label": ', "null", "true", "1e999", "(because "]
        ),
        st.integers(min_value=0, max_value=45).map(str),
        st.text(alphabet=string.ascii_letters + string.digits + string.punctuation + " \n", max_size=6),
    )
    text = "".join(draw(st.lists(piece, max_size=40)))
    fallback = draw(st.none() | st.permutations(range(n)))
    history = draw(st.lists(st.sampled_from(POOL_TITLES), max_size=3))
    return text, n, titles, fallback, history


@settings(max_examples=200, deadline=None)
@given(answer_like_texts())
def test_answer_like_text_gives_a_permutation(args):
    text, n, titles, fallback, history = args
    check_invariants(text, n, titles, fallback=fallback, history_titles=history)


@settings(max_examples=200, deadline=None)
@given(candidates=candidate_sets(), data=st.data())
def test_a_full_arrow_ranking_is_read_exactly(candidates, data):
    n, titles = candidates
    labels = label_alphabet(n)
    wanted = data.draw(st.permutations(range(n)))
    text = " > ".join(f"[{labels[i]}]" for i in wanted)
    order, report = check_invariants(text, n, titles)
    assert order == list(wanted)
    assert report.valid == n and report.missing == [] and not report.repaired


@settings(max_examples=200, deadline=None)
@given(candidates=candidate_sets(), data=st.data(), bold=st.booleans())
def test_one_label_per_line_is_read_exactly(candidates, data, bold):
    n, titles = candidates
    labels = label_alphabet(n)
    wanted = data.draw(st.permutations(range(n)))
    mark = "**" if bold else ""
    text = "\n".join(f"{mark}{labels[i]}{mark}" for i in wanted)
    order, report = check_invariants(text, n, titles)
    if n >= 2:  # a single bare label is not read as a list
        assert order == list(wanted) and report.valid == n


# --- label_alphabet and normalize_text ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, []),
        (1, ["A"]),
        (5, ["A", "B", "C", "D", "E"]),
        (26, list(string.ascii_uppercase)),
        (27, [str(i) for i in range(1, 28)]),
        (40, [str(i) for i in range(1, 41)]),
    ],
    ids=["0", "1", "5", "26", "27", "40"],
)
def test_label_alphabet(n, expected):
    assert label_alphabet(n) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=200))
def test_label_alphabet_is_distinct_and_sized(n):
    labels = label_alphabet(n)
    assert len(labels) == n == len(set(labels))
    assert all(label.isalpha() and len(label) == 1 for label in labels) if n <= 26 else all(
        label == str(i + 1) for i, label in enumerate(labels)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Matrix", "the matrix"),
        ("  The   Matrix!  ", "the matrix"),
        ("Toy-Story: Part\tTwo\n", "toy story part two"),
        ("ＡＬＩＥＮ １９７９", "alien 1979"),
        ("Amélie", "amélie"),
        ("Ame\u0301lie", "amélie"),
        ("Se7en", "se7en"),
        ("WALL·E", "wall e"),
        ("Straße", "strasse"),
        ("Rocky Ⅱ", "rocky ii"),
        ("", ""),
        ("!?-- ...", ""),
    ],
    ids=["plain", "spaces-punct", "hyphen-colon-tab", "fullwidth", "accent", "combining-accent", "digit", "middot",
         "eszett", "roman-numeral", "empty", "only-punct"],
)
def test_normalize_text(text, expected):
    assert normalize_text(text) == expected


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_normalize_text_shape(text):
    result = normalize_text(text)
    assert result == result.strip() and "  " not in result
    assert all(ch == " " or ch.isalnum() for ch in result)
