"""The parser reads an answer as a person would (issue 29): one test per class of shapes, each with hand-written
answers and a hypothesis strategy that wraps a known order in that shape, and the recovery rate over
thousands of generated answers of every shape (tests/parsing_shapes_helpers.py)."""

from __future__ import annotations

import collections

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parsing_shapes_helpers import SHAPES, Case, Dice, is_read, make_case, squash

from promptrec.parsing import label_alphabet, parse_ranking

LABELS5 = label_alphabet(5)
TITLES5 = ["The Matrix", "Toy Story", "Alien", "Heat", "Fargo"]
LABELS30 = label_alphabet(30)
TITLES30 = [f"Film number {i}" for i in range(1, 31)]


def read(text, labels=LABELS5, titles=TITLES5, **kwargs):
    """The labels the answer validly names, best first, and its report."""
    order, report = parse_ranking(text, labels, titles, **kwargs)
    return [labels[i] for i in order[: report.valid]], report


@st.composite
def cases(draw, shapes):
    return make_case(Dice.hypothesis(draw), draw(st.sampled_from(shapes)))


def check(case: Case) -> None:
    order, report = parse_ranking(case.text, case.labels, case.titles)
    assert sorted(order) == list(range(len(case.labels)))
    assert is_read(case, order, report), (
        f"{case.shape}: read {[case.labels[i] for i in order[: report.valid]]}, stated {case.order}\n{case.text}"
    )
    if case.format is not None:
        assert report.format == case.format


SHAPE_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- 1. the committed answer wins over the thinking --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Let me compare: [D] Heat and [E] Fargo look strong, maybe [D] > [E].\n\nFinal answer: [C] > [A] > [B]", "CAB"),
        ("Analysis: Heat, Fargo and Alien fit the user.\n\n<answer>\nB, A, C\n</answer>", "BAC"),
        ("Ranking: C > A > B\n\nHmm, Alien may be too dark.\nActually, let me revise: B > A > C", "BAC"),
        ("1. Heat\n2. Fargo\n\nOn second thought, a better order:\n1. Alien\n2. The Matrix", "CA"),
        ("- D: Heat, a crime film\n- E: Fargo, dark comedy\n\n## Final Ranking\n1. [A] The Matrix\n2. [C] Alien", "AC"),
        ("The user likes D and E. So my final answer is: B, A, C", "BAC"),
        ("<think>[D] > [E] > [A]</think>\nMy ranking: [E] > [B]", "EB"),
        ("Ranking: [A] > [B] > [C]\n\nExplanation: I put Heat and Fargo last because they are slow.", "ABC"),
        ("Answer: C > A > B\nActually, Alien is a great choice for this user.", "CAB"),
        ("Answer: C > A > B", "CAB"),
    ],
    ids=["final-answer-after-decoys", "answer-tags", "actually-let-me-revise", "on-second-thought-list",
         "final-ranking-heading", "final-answer-is-mid-line", "think-then-my-ranking", "explanation-after-answer",
         "actually-without-a-new-order-keeps-the-answer", "nothing-to-strip"],
)
def test_committed_answer_wins(text, expected):
    named, report = read(text)
    assert "".join(named) == expected
    # reasoning was dropped where text before or after the committed answer was (not for a note inside it)
    assert report.stripped_reasoning == ("\n\n" in text or "<" in text or "is:" in text)


def test_a_repeated_marker_commits_to_nothing():
    # SmolLM2-135M's degenerate answer: the same phrase before every label is a pattern, not a last word
    named, report = read("[A]\n\nThe answer is:\n[B]\n\nThe answer is:\n[C]\n\nThe answer is:\n[D]")
    assert named == ["A", "B", "C", "D"] and not report.stripped_reasoning


@SHAPE_SETTINGS
@given(cases(["think_tags", "answer_tags", "final_answer", "revision"]))
def test_generated_committed_answers(case):
    check(case)


# --- 2. stated ranks beat line order -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "fmt"),
    [
        ("Rank 3: Alien\nRank 1: Heat - a crime epic\nRank 2: [A] The Matrix", "DAC", "ranks"),
        ("#2 Fargo\n#1 Toy Story\n#3 Heat", "BED", "ranks"),
        ("**Rank 2** - C\n**Rank 1** - E", "EC", "ranks"),
        ("Second: Alien\nFirst: Heat", "DC", "ranks"),
        ("Alien (rank 2)\nFargo (rank 1)", "EC", "ranks"),
        ("| Rank | Title | Why |\n|---|---|---|\n| 2 | Alien | dark |\n| 1 | Fargo | funny |\n| 3 | Heat | long |", "ECD",
         "table"),
        ('[{"rank": 2, "title": "Alien"}, {"rank": 1, "title": "Up"}, {"rank": 3, "title": "Heat"}]', "CD", "json"),
    ],
    ids=["rank-n-lines", "hash-n-lines", "bold-rank-dash", "ordinal-words", "trailing-rank", "table-rank-column",
         "json-rank-keys"],
)
def test_stated_ranks_beat_line_order(text, expected, fmt):
    named, report = read(text)
    assert "".join(named) == expected and report.format == fmt


def test_numbered_lines_are_not_stated_ranks():
    # LLMRank's answers repeat the candidates' own order numbers: the line order is the ranking
    named, report = read("2. Alien\n0. The Matrix\n1. Toy Story")
    assert named == ["C", "A", "B"] and report.format == "list"


@SHAPE_SETTINGS
@given(cases(["stated_ranks", "table"]))
def test_generated_stated_ranks(case):
    check(case)


# --- 3. only the ranked items count ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "fmt"),
    [
        ("1. Fargo - darker than The Matrix\n2. Alien - like Heat, but in space", "EC", "list"),
        ("1. [E] Fargo (because it is darker than The Matrix and Toy Story)\n2. [C] Alien", "EC", "list"),
        ("| # | Movie | Why |\n|---|---|---|\n| 1 | Heat | tighter than The Matrix |\n| 2 | Fargo | lighter than Alien |",
         "DE", "table"),
        ("- **Fargo**: a dark comedy\n    - similar to Heat\n- **Alien**: for fans of The Matrix\n    - like Toy Story",
         "EC", "list"),
        ('[{"label": "E", "reason": "darker than The Matrix"}, {"label": "C", "reason": "like Heat"}]', "EC", "json"),
    ],
    ids=["reasons-after-a-dash", "reasons-in-parentheses", "why-column", "sub-bullets", "json-reasons"],
)
def test_only_ranked_items_count(text, expected, fmt):
    named, report = read(text)
    assert "".join(named) == expected and report.format == fmt
    assert report.hallucinated == []


@SHAPE_SETTINGS
@given(cases(["numbered_titles", "numbered_labels", "bullets", "json"]))
def test_generated_items_with_reasons(case):
    check(case)


# --- 4. labels in any context ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "fmt", "n"),
    [
        ("我的排名是C，其次是D，然后是A、B、E。", "CDABE", "labels", 5),
        ("推荐顺序：C，其次是A", "CA", "labels", 5),
        ("my ranking: c, a, b, e, d", "CABED", "labels", 5),
        ("The order is b, d, a", "BDA", "labels", 5),
        ("```python\nranking = ['D', 'C', 'A', 'B']\n```", "DCAB", "code", 5),
        ("print(('E', 'A'))", "EA", "code", 5),
        ("Recommended IDs: 4, 17, 2", ["4", "17", "2"], "labels", 30),
        ("Top picks: [12] > [3] > [30]", ["12", "3", "30"], "arrow", 30),
    ],
    ids=["cjk-no-spaces", "cjk-lead-in", "lower-case-lead-in", "lower-case-after-is", "python-list-in-code",
         "python-tuple", "numeric-lead-in", "lead-in-before-brackets"],
)
def test_labels_in_any_context(text, expected, fmt, n):
    labels, titles = (LABELS5, TITLES5) if n == 5 else (LABELS30, TITLES30)
    named, report = read(text, labels, titles)
    assert named == list(expected) and report.format == fmt


def test_lower_case_words_are_not_labels_in_prose():
    named, _ = read("i think a movie like this is a good pick for you, then e.")
    assert named == []


@SHAPE_SETTINGS
@given(cases(["cjk", "lead_in_labels", "code", "prose_labels", "arrow", "one_per_line"]))
def test_generated_labels_in_context(case):
    check(case)


# --- 5. headings as list items -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("## 1. Fargo\nA dark comedy, darker than The Matrix.\n\n## 2. Alien\n**Why:** like Heat", "EC"),
        ("### Heat\n- Genre: crime\n- Similar to: Alien\n### Toy Story\n- Genre: animation", "DB"),
        ("# My Recommendations\n## 1. [C] Alien\n## 2. [A] The Matrix", "CA"),
    ],
    ids=["numbered-headings-with-prose", "plain-headings-with-fields", "section-heading-is-not-an-item"],
)
def test_headings_are_list_items(text, expected):
    named, report = read(text)
    assert "".join(named) == expected and report.format == "headings"
    assert report.hallucinated == []


@SHAPE_SETTINGS
@given(cases(["headings"]))
def test_generated_headings(case):
    check(case)


# --- realistic answers of hosted, reasoning and small models, written by hand --------------------------------

REAL_TITLES = ["Fargo (1996)", "Alien (1979)", "Heat (1995)", "Matrix, The (1999)", "Toy Story (1995)",
               "Casablanca (1942)", "Jaws (1975)", "Rocky (1976)"]
REALISTIC = [
("""Okay, so the user has watched a lot of crime thrillers. Let me look at the candidates: [A] Fargo, [B] Alien, [C] Heat, [D] The Matrix...
Heat is probably the closest match. Fargo too. Wait, Jaws might also fit because of suspense.
</think>

**Ranking:**
1. **[C] Heat (1995)** – a crime epic much like the user's favorites
2. **[A] Fargo (1996)** – darker humor than The Matrix, but still crime
3. **[G] Jaws (1975)** – suspense
4. **[D] The Matrix (1999)**
5. **[B] Alien (1979)**
6. **[H] Rocky (1976)**
7. **[F] Casablanca (1942)**
8. **[E] Toy Story (1995)**""", "CAGDBHFE"),
("""Based on the viewing history, here's my ranking:

| Rank | Candidate | Movie | Reason |
|------|-----------|-------|--------|
| 1 | C | Heat (1995) | Crime thriller like Se7en |
| 2 | A | Fargo (1996) | Coen crime, better than Rocky |
| 3 | G | Jaws | suspense |""", "CAG"),
("""I'd recommend these in order:
- Heat
- Fargo
- Jaws

Heat stands out because, unlike Toy Story or Casablanca, it matches the intensity of your recent picks.""", "CAG"),
("""[C] > [A] > [G] > [D] > [B] > [H] > [F] > [E]

Explanation: The user enjoys crime (Heat, Fargo) over family films like Toy Story.""", "CAGDBHFE"),
("""Here are the top 3 recommendations:

### 1. Heat (1995)
A gritty crime drama. If you liked *Se7en*, you'll love this.

### 2. Fargo (1996)
Dark humor meets crime — lighter than Jaws.

### 3. The Matrix (1999)
Mind-bending action.""", "CAD"),
("""First, let's analyze. The user likes: crime, thriller. Candidates that match: A (Fargo), C (Heat), G (Jaws).
Candidates that don't match: E (Toy Story), F (Casablanca).

My final ranking: C, A, G, D, B, H, F, E""", "CAGDBHFE"),
("""```json
{"recommendations": [{"id": "C", "title": "Heat", "why": "like Se7en"}, {"id": "A", "title": "Fargo", "why": "darker than Jaws"}]}
```""", "CA"),
("""1. C
2. A
3. G
4. D""", "CAGD"),
("""Ranked: Heat > Fargo > Jaws > The Matrix > Alien > Rocky > Casablanca > Toy Story""", "CAGDBHFE"),
("""根据用户的观影历史，我推荐的顺序是：C > A > G > D > B > H > F > E""", "CAGDBHFE"),
("""Rank 3: Jaws — tense
Rank 1: Heat — crime epic, beats Fargo
Rank 2: Fargo — dark comedy""", "CAG"),
("""<answer>C, A, G</answer>
Reasoning: Heat and Fargo are crime movies; Jaws is suspenseful. I placed Alien low.""", "CAG"),
("""The best match is Heat (C). Next would be Fargo (A), followed by Jaws (G).""", "CAG"),
("""1. Heat (1995) - Directed by Michael Mann. Similar to: Alien, The Matrix.
2. Fargo (1996) - Directed by the Coen brothers.
3. Jaws (1975) - Spielberg classic.""", "CAG"),
("""Let me think step by step.
Step 1: The user watched Se7en, Zodiac.
Step 2: Heat is most similar.
Step 3: Then Fargo and Jaws.

Answer: [C] > [A] > [G]""", "CAG"),
("""Here's my ranking of the candidates:

1. **Heat** (C)
2. **Fargo** (A)
3. **Jaws** (G)""", "CAG"),
("""I recommend:
**C** Heat — tense
**A** Fargo — funny
**G** Jaws — suspense""", "CAG"),
("""Top pick: Heat. Runner-up: Fargo. Third: Jaws.""", "CAG"),
("1. Heat [C]\n2. Fargo [A]\n3. Jaws [G]", "CAG"),
("1) Heat\n2) Fargo\n3) Jaws", "CAG"),
("**Ranking:** C > A > G", "CAG"),
("**Final Answer**\n\nC > A > G\n\nI chose Heat because it's similar to Alien and Rocky.", "CAG"),
("Initial ranking: A > C > G\n\nLet me reconsider: Heat is closer to the user's taste than Fargo.\n\nRevised ranking: C > A > G", "CAG"),
("My top 3:\n• Heat\n• Fargo\n• Jaws", "CAG"),
("Sure! Ranking (most to least likely):\nC\nA\nG\nD\nB\nH\nF\nE", "CAGDBHFE"),
("The ranking is:\n\n1. Heat\n   Why: like Se7en, better than The Matrix\n2. Fargo\n   Why: darker than Toy Story\n3. Jaws", "CAG"),
("Heat, Fargo, Jaws, The Matrix, Alien, Rocky, Casablanca, Toy Story", "CAGDBHFE"),
("```\nC\nA\nG\n```", "CAG"),
("Recommended order: [\"C\", \"A\", \"G\"]", "CAG"),
("1. Heat: A crime epic that Fargo fans also enjoy.\n2. Fargo: dark comedy.\n3. Jaws: suspense like Alien.", "CAG"),
("#### Recommendation 1: Heat\nbecause...\n#### Recommendation 2: Fargo\nbecause...", "CA"),
("I'd rank them: Heat first, Fargo second, and Jaws third.", "CAG"),
("Here's the ranking, from most to least likely:\n\n1. Heat (1995) [C]\n2. Fargo (1996) [A]\n3. Jaws (1975) [G]\n\nNote: I excluded Toy Story since the user dislikes animation.", "CAG"),
]


@pytest.mark.parametrize(("text", "expected"), REALISTIC, ids=[f"realistic-{i}" for i in range(len(REALISTIC))])
def test_realistic_answers(text, expected):
    named, _ = read(text, label_alphabet(len(REAL_TITLES)), REAL_TITLES)
    assert "".join(named) == expected


# --- every shape, thousands of answers ---------------------------------------------------------------------


def test_generated_shapes_are_recovered_in_at_least_99_percent():
    """2,500 seeded answers, every shape: the stated order must be read exactly in at least 99% of them (and
    in at least 95% of each shape), and where a shape fixes the format, the report names it."""
    total: collections.Counter[str] = collections.Counter()
    read_right: collections.Counter[str] = collections.Counter()
    misses = []
    for seed in range(2_500):
        case = make_case(Dice.seeded(seed))
        order, report = parse_ranking(case.text, case.labels, case.titles)
        total[case.shape] += 1
        if is_read(case, order, report) and (case.format is None or report.format == case.format):
            read_right[case.shape] += 1
        else:
            misses.append(f"seed {seed} {case.shape}: {squash(case.text)}")
    assert set(total) == set(SHAPES)
    assert sum(read_right.values()) >= 0.99 * sum(total.values()), "\n".join(misses[:10])
    for shape in total:
        assert read_right[shape] >= 0.95 * total[shape], (shape, [m for m in misses if f" {shape}:" in m][:5])
