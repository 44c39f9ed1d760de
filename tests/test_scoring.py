"""Score mode's backend half: label log-probabilities from one forward pass, and single-token labels."""

import logging
import math
import re
import string
from types import SimpleNamespace

import pytest
from conftest import ScriptedBackend

from promptrec.backends import GenerationParams, LabelScores, get_backend, supports_scoring
from promptrec.backends.openai import OpenAIBackend
from promptrec.errors import BackendError
from promptrec.scoring import single_token_labels

LABELS = list("ABCD")
HISTORY = "You recommend movies. The user watched, oldest first: " + "; ".join(
    f'"Example Movie {i}" ({1970 + i}, Drama, Sci-Fi)' for i in range(40)
)


def ask(text: str, system: str | None = None) -> list[dict]:
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": text}]


def copy_label(label: str) -> list[dict]:
    """A prompt that implies one answer; SmolLM2-135M puts the named label first by 1.8-3.9 nats (A..D)."""
    return ask(f"Write the label [{label}] and nothing else.")


def candidates_prompt(labels: list[str], pick: str) -> list[dict]:
    shown = ", ".join(f'[{label}] "Movie {label}"' for label in labels)
    return ask(f"Candidates: {shown}. The user liked {pick}. Answer with the label of the best candidate.", HISTORY)


# --- the capability, without a model ------------------------------------------------------------------


def test_supports_scoring_is_discovered_not_assumed():
    assert supports_scoring(OpenAIBackend("m", client=object()))
    assert not supports_scoring(ScriptedBackend([]))

    class SwitchedOff(ScriptedBackend):
        supports_scoring = False

        def score_labels(self, messages, labels, prefix="["):
            raise AssertionError("never called")

    class NotCallable(ScriptedBackend):
        score_labels = None

    assert not supports_scoring(SwitchedOff([])) and not supports_scoring(NotCallable([]))


def test_single_token_labels_without_a_tokenizer_are_letters():
    backend = OpenAIBackend("m", client=object())
    assert single_token_labels(backend, 30) == list(string.ascii_uppercase) + list("abcd")
    with pytest.raises(BackendError, match="at most 52 candidates, not 53"):
        single_token_labels(backend, 53)


class FakeClient:
    """Stands in for openai.OpenAI: records request bodies and returns one fixed response."""

    def __init__(self, response):
        self.bodies, self.response = [], response
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, **body):
        self.bodies.append(body)
        return self.response


def _position(top: dict[str, float], chosen: str) -> SimpleNamespace:
    entries = [SimpleNamespace(token=token, logprob=value) for token, value in top.items()]
    return SimpleNamespace(token=chosen, logprob=top[chosen], top_logprobs=entries)


def _response(*positions: tuple[dict[str, float], str] | None):
    """A chat completion whose answer tokens have these (alternatives, chosen token); no logprobs for ``None``."""
    logprobs = None
    if positions != (None,):
        logprobs = SimpleNamespace(content=[_position(top, chosen) for top, chosen in positions])
    text = "".join(chosen for _, chosen in positions) if logprobs else "A"
    choice = SimpleNamespace(message=SimpleNamespace(content=text), finish_reason="length", logprobs=logprobs)
    return SimpleNamespace(choices=[choice], usage=SimpleNamespace(prompt_tokens=30, completion_tokens=2), model="m1")


def test_openai_score_request_and_label_mapping():
    top = {"[A": math.log(0.3), " A": math.log(0.1), "B": math.log(0.2), "[": math.log(0.25), "The": math.log(0.05)}
    client = FakeClient(_response((top, "[A"), ({"]": -0.1}, "]")))
    backend = OpenAIBackend("gpt-4o-mini", client=client)
    scores = backend.score_labels(copy_label("A"), LABELS)
    assert client.bodies == [{
        "model": "gpt-4o-mini", "messages": copy_label("A"), "max_tokens": 2, "temperature": 0.0, "seed": 0,
        "logprobs": True, "top_logprobs": 20,
    }]
    assert scores.logprobs["A"] == pytest.approx(math.log(0.4))  # "[A" and " A" both count for A
    assert scores.logprobs["B"] == pytest.approx(math.log(0.2))
    floor = math.log(0.05) - math.log(2)  # the lowest returned log-probability, halved in probability
    assert scores.floored == ["C", "D"] and scores.logprobs["C"] == scores.logprobs["D"] == pytest.approx(floor)
    assert (scores.usage.input_tokens, scores.usage.output_tokens, scores.model) == (30, 2, "m1")


def test_openai_reads_the_label_after_an_opening_bracket():
    opening = {"[": math.log(0.7), "The": math.log(0.2), "A": math.log(0.1)}
    after = {"C": math.log(0.6), "A": math.log(0.3), "B": math.log(0.1)}
    scores = OpenAIBackend("m", client=FakeClient(_response((opening, "["), (after, "C")))).score_labels(
        copy_label("C"), LABELS
    )
    assert scores.logprobs["C"] == pytest.approx(math.log(0.6)) and scores.logprobs["A"] == pytest.approx(math.log(0.3))
    assert scores.floored == ["D"] and scores.logprobs["D"] == pytest.approx(math.log(0.1) - math.log(2))


@pytest.mark.parametrize("response", [_response(None), _response()])
def test_openai_without_logprobs_is_a_clear_error(response):
    backend = OpenAIBackend("m", client=FakeClient(response))
    with pytest.raises(BackendError, match="the server does not return logprobs.*use generate mode"):
        backend.score_labels(copy_label("A"), LABELS)


# --- the in-process model ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_llama(bundled_model_path):
    """A second, independent Llama with logits for every position (llama-cpp-python's own logprobs path),
    loaded with promptrec's AMX decision (extra buffer types crash llama.cpp on AMX CPUs)."""
    import llama_cpp

    from promptrec.backends import amx

    with amx.model_params(extra_buffers=amx.use_extra_buffers()):
        return llama_cpp.Llama(model_path=str(bundled_model_path), n_ctx=1024, logits_all=True, verbose=False)


def reference_logprobs(llm, messages, labels, prefix="[") -> dict[str, float]:
    """Label log-probabilities computed without promptrec: the model's template, a full eval, every row's logits."""
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(
        template=llm.metadata["tokenizer.chat_template"],
        eos_token=llm._model.token_get_text(llm.token_eos()),
        bos_token=llm._model.token_get_text(llm.token_bos()),
    )
    prompt = formatter(messages=messages).prompt + prefix
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    llm.reset()
    llm.eval(tokens)
    row = Llama.logits_to_logprobs(llm.scores[len(tokens) - 1])
    result = {}
    for label in labels:
        with_label = llm.tokenize((prompt + label).encode(), add_bos=False, special=True)
        assert with_label[:-1] == tokens
        result[label] = float(row[with_label[-1]])
    return result


@pytest.mark.model
@pytest.mark.parametrize("prefix", ["[", ""])
def test_logprobs_match_an_independent_reference(llama_backend, reference_llama, prefix):
    labels = single_token_labels(llama_backend, 20, prefix)
    messages = candidates_prompt(labels, "Movie C")
    scores = llama_backend.score_labels(messages, labels, prefix=prefix)
    assert isinstance(scores, LabelScores) and list(scores.logprobs) == labels and scores.floored == []
    assert all(value <= 0 for value in scores.logprobs.values())
    expected = reference_logprobs(reference_llama, messages, labels, prefix)
    assert scores.logprobs == pytest.approx(expected, abs=1e-3)
    assert scores.usage.input_tokens == llama_backend.count_tokens(messages) + (1 if prefix else 0)
    assert scores.usage.output_tokens == 0 and scores.model == llama_backend.name


@pytest.mark.model
@pytest.mark.parametrize("answer", ["B", "D"])
def test_a_prompt_that_implies_an_answer_ranks_it_first(llama_backend, answer):
    scores = llama_backend.score_labels(copy_label(answer), LABELS).logprobs
    assert max(scores, key=scores.get) == answer
    assert scores[answer] - max(v for label, v in scores.items() if label != answer) > 1.0


@pytest.mark.model
def test_prefix_reuse_does_not_change_the_scores(llama_backend, caplog):
    labels = single_token_labels(llama_backend, 20)
    first, second = candidates_prompt(labels, "Movie B"), candidates_prompt(labels, "Movie Q")
    llama_backend.reset()
    fresh = llama_backend.score_labels(second, labels).logprobs
    for previous in (first, second, copy_label("A")):  # a shared prefix, the same prompt, and almost nothing shared
        llama_backend.score_labels(previous, labels)
        with caplog.at_level(logging.DEBUG, logger="promptrec.backends.llamacpp"):
            caplog.clear()
            reused = llama_backend.score_labels(second, labels).logprobs
        assert reused == pytest.approx(fresh, abs=1e-6)
    assert llama_backend.score_labels(second, labels, reuse_prefix=False).logprobs == pytest.approx(fresh, abs=1e-6)
    # the history is long and the prompts differ near the end: most of the prompt came from the cache
    llama_backend.score_labels(first, labels)
    with caplog.at_level(logging.DEBUG, logger="promptrec.backends.llamacpp"):
        caplog.clear()
        llama_backend.score_labels(second, labels)
    total, reused_tokens = map(int, re.search(r"(\d+) prompt tokens, (\d+) reused", caplog.text).groups())
    assert reused_tokens > 0.8 * total


@pytest.mark.model
@pytest.mark.parametrize("prefix", ["[", ""])
def test_scoring_and_completing_interleave(llama_backend, prefix):
    chat, other = copy_label("C"), candidates_prompt(LABELS, "Movie A")
    params = GenerationParams(max_tokens=12)
    llama_backend.reset()
    completed_alone = llama_backend.complete(chat, params).text
    llama_backend.reset()
    scored_alone = llama_backend.score_labels(chat, LABELS, prefix).logprobs
    llama_backend.reset()
    other_alone = llama_backend.score_labels(other, LABELS, prefix).logprobs
    llama_backend.reset()
    for _ in range(2):
        assert llama_backend.score_labels(chat, LABELS, prefix).logprobs == pytest.approx(scored_alone, abs=1e-6)
        assert llama_backend.complete(chat, params).text == completed_alone
        assert llama_backend.score_labels(other, LABELS, prefix).logprobs == pytest.approx(other_alone, abs=1e-6)
        assert llama_backend.complete(chat, params).text == completed_alone
        assert llama_backend.score_labels(chat, LABELS, prefix).logprobs == pytest.approx(scored_alone, abs=1e-6)


@pytest.mark.model
@pytest.mark.parametrize("n", [10, 26, 40, 100])
def test_single_token_labels(llama_backend, n):
    labels = single_token_labels(llama_backend, n)
    assert len(labels) == n == len(set(labels))
    assert labels[: min(n, 26)] == list(string.ascii_uppercase[:n])
    llm = llama_backend._llm  # checked here with the tokenizer directly, not through promptrec
    prompt = llama_backend._formatter(messages=copy_label("A")).prompt + "["
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    ids = set()
    for label in labels:
        with_label = llm.tokenize((prompt + label).encode(), add_bos=False, special=True)
        assert with_label[:-1] == tokens, label
        ids.add(with_label[-1])
    assert len(ids) == n
    scores = llama_backend.score_labels(copy_label("A"), labels)
    assert len(scores.logprobs) == n and all(value <= 0 for value in scores.logprobs.values())


@pytest.mark.model
def test_labels_that_are_not_one_token_are_named(llama_backend):
    with pytest.raises(BackendError, match=r"not single tokens after '\[' .*: 100, Hello world;") as info:
        llama_backend.score_labels(copy_label("A"), ["A", "100", "Hello world"])
    assert "A," not in str(info.value)
    with pytest.raises(BackendError, match="at least one label"):
        llama_backend.score_labels(copy_label("A"), [])


# --- an OpenAI-compatible server ------------------------------------------------------------------------


@pytest.mark.server
@pytest.mark.model
def test_openai_backend_scores_against_a_real_llama_cpp_server(llama_server, llama_backend, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = get_backend("openai:smollm2", base_url=llama_server)
    labels = list(string.ascii_uppercase[:20])
    for answer in ("B", "D"):
        messages = copy_label(answer)
        scores = backend.score_labels(messages, labels)
        assert list(scores.logprobs) == labels and all(v <= 0 for v in scores.logprobs.values())
        assert scores.floored and set(scores.floored) < set(labels)
        floor = {scores.logprobs[label] for label in scores.floored}
        assert len(floor) == 1 and max(floor) < min(v for k, v in scores.logprobs.items() if k not in scores.floored)
        assert scores.usage.input_tokens == llama_backend.count_tokens(messages) and scores.usage.output_tokens == 2
        # SmolLM2 answers this prompt with the bare label (no "["), so the alternatives are read at the first
        # answer token and compared with the in-process model scoring the same prompt with no prefix: the
        # same top label, and the same log-probabilities where returned.
        local = llama_backend.score_labels(messages, labels, prefix="").logprobs
        assert max(scores.logprobs, key=scores.logprobs.get) == max(local, key=local.get) == answer
        for label in set(labels) - set(scores.floored):
            assert scores.logprobs[label] == pytest.approx(local[label], abs=1e-3)


@pytest.mark.server
@pytest.mark.model
def test_openai_backend_reads_the_label_after_the_models_opening_bracket(llama_server, llama_backend, demo_catalog):
    """The ranker's score-mode prompt asks for "[B]"-style answers, so SmolLM2 opens with "[" (measured: 1.41
    nats above anything else); the label is the second answer token, conditional on that "[", which is what
    the in-process backend computes with its "[" prefix."""
    from promptrec.prompting import choice_instruction
    from promptrec.scenario import load_scenario

    items = list(demo_catalog.values())
    labels = list(string.ascii_uppercase[:20])
    messages = load_scenario("movies").render(items[:4], list(zip(labels, items[4:24])), answer_format=choice_instruction(labels))
    scores = get_backend("openai:smollm2", base_url=llama_server, api_key="unused").score_labels(messages, labels)
    local = llama_backend.score_labels(messages, labels).logprobs
    assert scores.usage.output_tokens == 2 and len(scores.floored) < 5  # measured: 1 of 20
    assert max(scores.logprobs, key=scores.logprobs.get) == max(local, key=local.get)
    # not 1e-3: the server decodes its generated "[" as a batch of one token, whose kernels give slightly
    # different logits (see LlamaCppBackend._last_logits); measured up to 0.13
    for label in set(labels) - set(scores.floored):
        assert scores.logprobs[label] == pytest.approx(local[label], abs=0.3)


@pytest.mark.model
def test_pointwise_mode_with_the_real_model(llama_backend, reference_llama, demo_catalog):
    from promptrec import Ranker

    ids = llama_backend.label_token_ids(["Yes", "No"], prefix="")
    assert None not in ids.values() and ids["Yes"] != ids["No"]
    items = list(demo_catalog.values())
    ranking = Ranker(llama_backend, "movies", mode="pointwise").rank(items[:3], items[3:8])
    assert sorted(ranking.ids()) == sorted(item.id for item in items[3:8]) and ranking.report.valid == 5
    assert all(math.isfinite(r.score) for r in ranking)
    first = ranking.items[[r.item.title for r in ranking].index(ranking.prompt[-1]["content"].split('yet: "')[1].split('"')[0])]
    expected = reference_logprobs(reference_llama, ranking.prompt, ["Yes", "No"], prefix="")
    assert first.score == pytest.approx(expected["Yes"] - expected["No"], abs=1e-3)


@pytest.mark.model
def test_the_in_process_model_takes_calls_from_many_threads(llama_backend, demo_catalog):
    from promptrec import Ranker

    items = list(demo_catalog.values())
    requests = [(items[i : i + 3], items[10 + i : 18 + i], None) for i in range(6)]
    rankings = list(Ranker(llama_backend, "movies", mode="score").rank_many(requests, workers=6))
    assert [len(r.items) for r in rankings] == [8] * 6 and all(r.report.valid == 8 for r in rankings)
    generated = list(Ranker(llama_backend, "movies").rank_many(requests[:3], workers=3))
    assert all(sorted(r.ids()) == sorted(item.id for item in request[1]) for r, request in zip(generated, requests))
