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
