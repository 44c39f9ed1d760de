"""The LLM as a harness method: LLMMethod, llm_factory, the cross-domain scenario, model labels."""


import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from conftest import DATASETS, REVERSED, ScriptedBackend, needs_datasets  # noqa: E402

from promptrec.evaluation.cases import Case  # noqa: E402
from promptrec.evaluation.datasets import load_dataset  # noqa: E402
from promptrec.evaluation.llm import LLMMethod, llm_factory  # noqa: E402
from promptrec.evaluation.protocol import ProtocolConfig, build_cases  # noqa: E402
from promptrec.evaluation.runner import run_dataset  # noqa: E402
from promptrec.ranker import Ranker  # noqa: E402


@needs_datasets
def test_cross_domain_prompt_names_the_source_domain():
    backend = ScriptedBackend([REVERSED])
    dataset = load_dataset("books-cds", DATASETS)
    method = llm_factory(backend)(dataset)
    run = run_dataset(dataset, ProtocolConfig(users=1, valid_users=0), [lambda _: method], fusion=False)
    (messages, _), = backend.requests
    user = messages[-1]["content"]
    assert user.startswith("I have read the following books, oldest first:")
    assert "I have not listened to any albums yet." in user and "candidate albums" in user
    history_titles = [item.title for item in run.test[0].query.history]
    assert all(title.replace('"', "'")[:20] in user for title in history_titles)


def test_unknown_ranker_options_are_refused():
    with pytest.raises(ValueError, match="does not take nonsense"):
        llm_factory(ScriptedBackend([]), ranker_options={"nonsense": 1})


def test_model_labels_name_the_model_not_the_url():
    from types import SimpleNamespace

    from promptrec.evaluation.llm import model_label

    assert model_label(SimpleNamespace(name="llamacpp:SmolLM2-135M-Instruct.Q4_1.gguf")) == "SmolLM2-135M-Instruct.Q4_1"
    assert model_label(SimpleNamespace(name="openai:smollm2@http://127.0.0.1:8765/v1")) == "smollm2"
    assert model_label(SimpleNamespace(name="openai:meta/llama-3@https://host/v1")) == "llama-3"


@needs_datasets
def test_llm_adapter_prompts_are_identical_whichever_candidate_is_the_truth():
    dataset = load_dataset("movielens", DATASETS)
    (case,), _ = build_cases(dataset, ProtocolConfig(users=1, valid_users=0))
    answer = " > ".join(f"[{chr(65 + i)}]" for i in range(20))
    prompts = []
    for truth in (case.truth, case.query.candidates[0].id):
        backend = ScriptedBackend([answer])
        method = LLMMethod(Ranker(backend, "movies", max_history=20))
        other = Case(query=case.query, truth=truth)
        scored = method.score(other.query)
        prompts.append(backend.requests)
        assert sorted(scored.scores.values()) == [float(v) for v in range(1, 21)]  # Borda points
    assert prompts[0] == prompts[1] and len(prompts[0]) == 1


# ------------------------------------------------------------------ with a scripted backend, no data


from promptrec.data import Item  # noqa: E402
from promptrec.errors import BackendError  # noqa: E402
from promptrec.evaluation.cases import EvalDataset, Query, Split  # noqa: E402
from promptrec.evaluation.llm import cross_domain_scenario, scenario_for  # noqa: E402

CANDIDATES = tuple(Item(id=f"c{n}", title=f"Candidate {n}") for n in range(4))


def test_generate_mode_gives_borda_points_and_the_diagnostics():
    backend = ScriptedBackend(["[C] > [A] > [D] > [B]"])
    method = LLMMethod(Ranker(backend, "movies", shuffle=False))
    scored = method.score(Query("test:u1", "u1", (Item(id="h", title="Heat"),), CANDIDATES))
    assert scored.scores == {"c2": 4.0, "c0": 3.0, "c3": 2.0, "c1": 1.0}
    info = scored.info
    assert (info["format"], info["valid"], info["missing"], info["reasks"], info["cached"]) == ("arrow", 4, 0, 0, False)
    assert info["input_tokens"] > 0 and info["raw"] == "[C] > [A] > [D] > [B]" and info["history_used"] == 1
    assert method.name == "llm:scripted:test:sequential"


class DownBackend(ScriptedBackend):
    def complete(self, messages, params):
        raise BackendError("the server is down")


def test_a_failed_case_keeps_the_shown_order_and_says_why():
    method = LLMMethod(Ranker(DownBackend([]), "movies", shuffle=False), name="LLM down")
    scored = method.score(Query("test:u1", "u1", (), CANDIDATES))
    assert scored.scores == {"c0": 4.0, "c1": 3.0, "c2": 2.0, "c3": 1.0}
    assert scored.info["error"] == "BackendError: the server is down" and scored.info["latency_s"] >= 0


def test_the_factory_labels_the_method_and_gives_each_dataset_its_scenario(tmp_path):
    def dataset(protocol, scenario, source=None, target=None):
        return EvalDataset("d", protocol, scenario, {}, (), Split("test", (), ()), Split("valid", (), ()),
                           source_domain=source, target_domain=target)

    make = llm_factory(ScriptedBackend([]), strategy="recency", history=5)
    movies = make(dataset("llmrank", "movies"))
    assert movies.name == "LLM test (recency)" and movies.ranker.max_history == 5
    assert movies.ranker.scenario.name == "movies"
    cross = make(dataset("cross-domain", "music", "books", "cds"))
    assert cross.ranker.scenario.name == "from_books_music"
    assert "permutations=2" in llm_factory(ScriptedBackend([]), ranker_options={"permutations": 2})(dataset("llmrank", "movies")).name
    assert llm_factory(ScriptedBackend([]), name="mine")(dataset("llmrank", "movies")).name == "mine"
    assert scenario_for(dataset("cross-domain", "movies", "books"), [str(tmp_path)]).name == "movies"  # user prompts win


def test_the_cross_domain_scenario_names_both_domains():
    history, candidates = [Item(id="b1", title="Dune")], [(label, item) for label, item in zip("AB", CANDIDATES)]
    user = cross_domain_scenario("cds", "books").render(history, candidates, answer_format="Answer.")[-1]["content"]
    assert user.startswith("I have listened to the following music albums, oldest first:") and '"Dune"' in user
    albums = cross_domain_scenario("books", "music", "cds").render(history, candidates, answer_format=".")[-1]["content"]
    assert "candidate albums" in albums and "I have read the following books" in albums
    other = cross_domain_scenario("grocery", "products").render(history, candidates, answer_format=".")[-1]["content"]
    assert "grocery items" in other and "chosen" in other


def test_the_cross_domain_interest_profile_speaks_of_the_history_s_own_domain():
    from promptrec.data import Item
    from promptrec.evaluation.llm import cross_domain_scenario

    messages = cross_domain_scenario("cds", "books", "books").render_profile(
        [Item(id="c1", title="Kind of Blue", attributes={"artist": "Miles Davis"})])
    text = "\n".join(m["content"] for m in messages)
    assert "music albums they have listened to" in text and "I have listened to the following music albums" in text
    assert "book" not in text  # the history is albums: the profile prompt must not call them books
