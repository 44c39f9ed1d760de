"""promptrec.prompting and the prompt texts under prompts/: rendered from templates, overridable per scenario."""

from pathlib import Path

import pytest
from conftest import ScriptedBackend

from promptrec import Item, Ranker
from promptrec.backends.base import LabelScores, Usage
from promptrec.data import UserHistory
from promptrec.errors import ScenarioError
from promptrec.feedback import FeedbackConfig, FeedbackStore, header_tokens
from promptrec.prompting import answer_instruction, choice_instruction, reask_text, yes_no_instruction
from promptrec.scenario import Scenario, load_scenario

ITEMS = [Item(id=f"i{n}", title=f"Film {n}") for n in range(4)]


def test_the_instructions_read_the_labels():
    assert answer_instruction("ABCD") == (
        'Answer with the labels of all 4 candidates, most likely first, separated by " > ", for example: '
        "[B] > [C] > [A]. Use every label exactly once and write nothing else."
    )
    assert "for example: [A]. Use" in answer_instruction(["A"])
    assert "for example: [B]." in choice_instruction("ABC") and "for example: [A]." in choice_instruction("A")
    assert yes_no_instruction() == "Answer with Yes or No only."


def test_the_reask_quotes_the_start_of_the_answer_or_says_it_was_empty():
    assert "your answer (it was empty). Reply" in reask_text("  \n", "ABCD")
    text = reask_text("  " + "x" * 100 + "  ", "ABCD")
    assert f'your answer ("{"x" * 80}"). Reply' in text and text.endswith("for example: [A] > [B] > [C]")


def _override(tmp_path: Path, files: dict[str, str], spec: str = 'extends = "movies"\n') -> Path:
    folder = tmp_path / "prompts" / "mine"
    folder.mkdir(parents=True)
    (folder / "scenario.toml").write_text(spec, encoding="utf-8")
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return tmp_path / "prompts"


class FlatScorer(ScriptedBackend):
    supports_scoring = True

    def __init__(self):
        super().__init__([])
        self.seen = []

    def score_labels(self, messages, labels, prefix="["):
        self.seen.append(messages)
        return LabelScores(logprobs={label: -1.0 for label in labels}, usage=Usage(), model="flat")


def test_a_scenario_overrides_the_instruction_the_reask_and_the_content_free_title(tmp_path):
    prompts = _override(tmp_path, {
        "answer_generate.j2": "Order {{ n_candidates }} {{ item_nouns }}: {{ labels | join(',') }}.",
        "reask.j2": "Again, please ({{ answer }}).",
        "answer_score.j2": "One label.",
    }, 'extends = "movies"\ncontent_free = "nothing"\n')
    backend = ScriptedBackend(["no idea", "[A] > [B] > [C] > [D]"])
    ranking = Ranker(backend, "mine", prompts_dirs=[str(prompts)], shuffle=False).rank([], ITEMS)
    assert backend.requests[0][0][-1]["content"].endswith("Order 4 movies: A,B,C,D.")
    assert backend.requests[1][0][-1]["content"] == "Again, please (no idea)." and ranking.report.reasks == 1
    scorer = FlatScorer()
    Ranker(scorer, "mine", prompts_dirs=[str(prompts)], mode="score", calibrate=True).rank([], ITEMS)
    assert scorer.seen[0][-1]["content"].endswith("One label.")
    assert '"nothing"' in scorer.seen[1][-1]["content"] and "N/A" not in scorer.seen[1][-1]["content"]


def test_a_scenario_overrides_the_feedback_line_and_its_header_is_measured(tmp_path):
    prompts = _override(tmp_path, {"feedback_example.j2": "{{ example.label | upper }}: {{ example.title }}"})
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    store.add("u1", "mine", "x", "liked", title="Alien")
    ranker = Ranker(ScriptedBackend([]), "mine", prompts_dirs=[str(prompts)], feedback=FeedbackConfig(store))
    prepared = ranker.prepare(UserHistory.from_items([], user_id="u1"), ITEMS)
    assert '- LIKED: "Alien"' in prepared.messages[-1]["content"]
    long_header = "{% extends \"builtin:default/user.j2\" %}{% block examples %}{% if examples %}" + "word " * 100 + \
        "\n{% for e in examples %}- {{ e.text }}\n{% endfor %}{% endif %}{% endblock %}"
    longer = Scenario.from_strings("wordy", 'extends = "movies"\n', {"user.j2": long_header})
    assert header_tokens(longer) == 126  # "word " x 100 and a newline: 501 characters, four a token
    assert header_tokens(load_scenario("movies")) == 41


def test_a_scenario_from_strings_extends_a_builtin_and_is_checked():
    scenario = Scenario.from_strings("tiny", 'extends = "books"\ndescription = "Tiny"\n',
                                     {"system.j2": "You rank {{ item_nouns }}."})
    messages = scenario.render([], [("A", ITEMS[0])], answer_format="X")
    assert messages[0]["content"] == "You rank books." and scenario.spec.description == "Tiny"
    with pytest.raises(ScenarioError, match="unknown template variable.*secret"):
        Scenario.from_strings("bad", 'extends = "books"\n', {"user.j2": "{{ secret }}"})
    with pytest.raises(ScenarioError, match="<bad>/scenario.toml"):
        Scenario.from_strings("bad", 'extends = "books"\nmax_history = -1\n')
