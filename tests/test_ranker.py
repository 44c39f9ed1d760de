import pytest
from conftest import ScriptedBackend

from promptrec import Item, Ranker, UserHistory
from promptrec.backends import get_backend
from promptrec.errors import BackendError, ContextOverflowError, DataError
from promptrec.ranker import answer_instruction, label_list_grammar
from promptrec.scenario import load_scenario


@pytest.fixture
def history(demo_catalog):
    return UserHistory.from_items(demo_catalog.resolve(["m01", "m03", "m04"]), user_id="u1")


@pytest.fixture
def candidates(demo_catalog):
    return demo_catalog.resolve(["m09", "m12", "m14", "m16"])


def test_prompt_is_the_scenario_rendering_and_answer_maps_back(history, candidates):
    backend = ScriptedBackend(["[C] > [A] > [D] > [B]"])
    ranking = Ranker(backend, "movies", shuffle=False).rank(history, candidates)
    messages, params = backend.requests[0]
    labelled = list(zip("ABCD", candidates))
    assert messages == load_scenario("movies").render(history.items, labelled, answer_format=answer_instruction("ABCD"))
    assert ranking.ids() == ["m14", "m09", "m16", "m12"]
    assert [r.label for r in ranking] == ["C", "A", "D", "B"]
    assert [r.score for r in ranking] == [4.0, 3.0, 2.0, 1.0]
    assert not ranking.report.repaired and ranking.report.format == "arrow"
    assert params.grammar is None and params.max_tokens >= 4 * 4
    assert ranking.prompt == messages and ranking.user_id == "u1" and ranking.backend == "scripted:test"


def test_shuffle_is_seeded_and_missing_items_follow_the_input_order(history, candidates):
    orders = set()
    for seed in range(6):
        backend = ScriptedBackend(["[A]"])
        ranking = Ranker(backend, "movies", seed=seed).rank(history, candidates)
        shown = [line for line in backend.requests[0][0][1]["content"].splitlines() if line.startswith("[")]
        orders.add(tuple(shown))
        first = next(c.id for c in candidates if f'"{c.title}"' in shown[0])
        # the named item first, then the rest in the caller's order
        assert ranking.ids() == [first] + [c.id for c in candidates if c.id != first]
        assert ranking.report.missing and ranking.report.valid == 1
        again = Ranker(ScriptedBackend(["[A]"]), "movies", seed=seed).rank(history, candidates)
        assert again.ids() == ranking.ids()
    assert len(orders) > 1


def test_one_label_agnostic_reask_for_an_unusable_answer(history, candidates):
    backend = ScriptedBackend(["I am sorry, I cannot rank movies.", "[B] > [A] > [D] > [C]"])
    ranking = Ranker(backend, "movies", shuffle=False).rank(history, candidates)
    assert len(backend.requests) == 2
    follow_up = backend.requests[1][0]
    assert follow_up[-2] == {"role": "assistant", "content": "I am sorry, I cannot rank movies."}
    assert "could not find any candidate label" in follow_up[-1]["content"]
    assert '"I am sorry, I cannot rank movies."' in follow_up[-1]["content"]
    assert ranking.report.reasks == 1 and ranking.ids() == ["m12", "m09", "m16", "m14"]
    assert ranking.usage.input_tokens > backend.count_tokens(backend.requests[0][0])


def test_no_reask_when_disabled_or_when_partly_usable(history, candidates):
    backend = ScriptedBackend(["no idea"])
    ranking = Ranker(backend, "movies", shuffle=False, reask=False).rank(history, candidates)
    assert len(backend.requests) == 1 and ranking.report.format == "none"
    assert ranking.ids() == [c.id for c in candidates]
    backend = ScriptedBackend(["[B] > [Q]"])
    ranking = Ranker(backend, "movies", shuffle=False).rank(history, candidates)
    assert len(backend.requests) == 1 and ranking.report.hallucinated == ["Q"]


def test_truncated_answer_is_reported(history, candidates):
    backend = ScriptedBackend(["[B] > [A] > ["], finish_reason="length")
    ranking = Ranker(backend, "movies", shuffle=False).rank(history, candidates)
    assert ranking.report.truncated and ranking.report.missing == ["C", "D"]


def test_top_k(history, candidates):
    ranking = Ranker(ScriptedBackend(["[D] > [C] > [B] > [A]"]), "movies", shuffle=False).rank(history, candidates, k=2)
    assert ranking.ids() == ["m16", "m14"] and ranking.ids(1) == ["m16"]


def test_history_is_cut_to_max_history_then_to_the_context(demo_catalog, candidates):
    long_history = [Item(id=f"h{i}", title=f"A rather long film title number {i}") for i in range(40)]
    backend = ScriptedBackend(["[A]"])
    ranking = Ranker(backend, "movies", max_history=10).rank(long_history, candidates)
    assert (ranking.history_used, ranking.history_dropped) == (10, 30)
    assert "number 39" in ranking.prompt[1]["content"] and "number 29" not in ranking.prompt[1]["content"]

    backend = ScriptedBackend(["[A]"], context_window=600)
    ranker = Ranker(backend, "movies", max_history=40)
    ranking = ranker.rank(long_history, candidates)
    assert 0 < ranking.history_used < 40 and ranking.history_dropped == 40 - ranking.history_used
    budget = 600 - ranker._params("ABCD").max_tokens
    assert backend.count_tokens(ranking.prompt) <= budget
    kept = ranking.history_used
    assert f"number {39 - kept + 1}" in ranking.prompt[1]["content"]  # the most recent are the ones kept
    assert f"number {39 - kept}\"" not in ranking.prompt[1]["content"]


def test_candidates_that_cannot_fit_raise(history):
    many = [Item(id=str(i), title="word " * 40) for i in range(20)]
    with pytest.raises(ContextOverflowError, match="do not fit the 500-token context"):
        Ranker(ScriptedBackend(["[A]"], context_window=500), "movies").rank(history, many)


@pytest.mark.parametrize(
    "candidates, k, words",
    [
        ([], None, "candidate list is empty"),
        ([Item(id="a", title="A"), Item(id="a", title="B")], None, "'a' appears more than once"),
        ([Item(id="a", title="A")], 0, "k must be at least 1"),
    ],
)
def test_bad_requests(history, candidates, k, words):
    with pytest.raises(DataError, match=words):
        Ranker(ScriptedBackend(["[A]"]), "movies").rank(history, candidates, k=k)


def test_constrained_needs_a_backend_that_supports_grammars():
    with pytest.raises(BackendError, match="cannot constrain"):
        Ranker(ScriptedBackend([]), "movies", constrained=True)
    assert Ranker(ScriptedBackend([]), "movies").constrained is False
    with pytest.raises(ValueError, match="unknown strategy"):
        Ranker(ScriptedBackend([]), "movies", strategy="random")  # type: ignore[arg-type]


def test_label_list_grammar_shape():
    assert label_list_grammar("AB") == 'root ::= item " > " item\nitem ::= "[A]" | "[B]"\n'


@pytest.mark.model
@pytest.mark.parametrize("strategy", ["sequential", "recency", "in_context"])
def test_real_model_ranks_the_demo_with_a_grammar(llama_backend, demo_catalog, strategy):
    history = demo_catalog.resolve(["m01", "m03", "m04", "m09"])
    candidates = [demo_catalog[i] for i in demo_catalog if i not in {"m01", "m03", "m04", "m09"}]
    ranking = Ranker(llama_backend, "movies", strategy=strategy).rank(history, candidates)
    assert sorted(ranking.ids()) == sorted(c.id for c in candidates)
    report = ranking.report
    assert report.format == "arrow" and report.hallucinated == [] and report.valid >= 1
    assert report.valid + len(report.missing) == len(candidates)
    assert ranking.raw.count(" > ") == len(candidates) - 1  # the grammar forces exactly n labels
    assert ranking.usage.input_tokens == llama_backend.count_tokens(ranking.prompt)


@pytest.mark.model
def test_real_model_history_is_fitted_to_a_small_context(demo_catalog):
    backend = get_backend("llamacpp", n_ctx=512)
    history = [Item(id=f"h{i}", title=f"An imaginary film with a long title, part {i}") for i in range(30)]
    ranking = Ranker(backend, "movies", max_history=30).rank(history, demo_catalog.resolve(["m02", "m05", "m12"]))
    assert 0 < ranking.history_used < 30
    assert ranking.usage.input_tokens + ranking.usage.output_tokens <= 512


@pytest.mark.server
def test_real_model_through_the_openai_compatible_server(llama_server, demo_catalog, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = get_backend("openai:smollm2", base_url=llama_server)
    candidates = demo_catalog.resolve(["m02", "m05", "m12", "m17", "m23"])
    ranking = Ranker(backend, "movies").rank(demo_catalog.resolve(["m08", "m20"]), candidates, k=3)
    assert len(ranking.ids()) == 3 and set(ranking.ids()) <= {c.id for c in candidates}
    assert ranking.backend == f"openai:smollm2@{llama_server}"
    assert ranking.usage.input_tokens > 100 and ranking.raw
