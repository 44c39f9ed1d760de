"""One request, one prompt: rank, permutation passes, windows, promptrec batch and the Batch API export all
render the same messages for the same request, ``{{ k }}`` and the user's feedback included."""

from __future__ import annotations

import json

import pytest

from promptrec.backends.base import GenerationParams, Message
from promptrec.batch import parse_request, rank_entry
from promptrec.debias import pass_shift
from promptrec.feedback import FeedbackConfig
from promptrec.feedback_store import FeedbackStore
from promptrec.ranker import Ranker
from tests.conftest import ScriptedBackend


@pytest.fixture
def topk_prompts(tmp_path):
    """A user scenario whose system prompt says how many items are wanted (the documented ``{{ k }}``)."""
    folder = tmp_path / "prompts" / "topk"
    folder.mkdir(parents=True)
    (folder / "scenario.toml").write_text('extends = "movies"\ndescription = "movies, top k"\n')
    (folder / "system.j2").write_text(
        "{% block system %}You recommend movies.{% if k %} The user wants {{ k }} of them.{% endif %}{% endblock %}\n"
    )
    return str(tmp_path / "prompts")


class RecordingBackend(ScriptedBackend):
    """Answers every prompt with the labels in the order shown, and records what it was sent."""

    def __init__(self) -> None:
        super().__init__([])

    def complete(self, messages: list[Message], params: GenerationParams):  # type: ignore[override]
        self.answers.append(" > ".join(f"[{label}]" for label in _labels(messages)))
        return super().complete(messages, params)


def _labels(messages: list[Message]) -> list[str]:
    import re

    return re.findall(r"^\[([A-Z]+)\]", messages[-1]["content"], flags=re.MULTILINE)


def _ranker(backend, prompts: str, **options) -> Ranker:
    return Ranker(backend, "topk", prompts_dirs=[prompts], **options)


def test_rank_sends_the_prompt_prepare_renders_with_k(demo_catalog, topk_prompts):
    history, candidates = demo_catalog.resolve(["m01", "m03"]), demo_catalog.resolve(["m05", "m07", "m09", "m11"])
    backend = RecordingBackend()
    ranker = _ranker(backend, topk_prompts)
    ranker.rank(history, candidates, k=2)
    sent = backend.requests[0][0]
    assert sent == ranker.prepare(history, candidates, k=2).messages
    assert "The user wants 2 of them." in sent[0]["content"]
    assert "The user wants 4 of them." in ranker.prepare(history, candidates).messages[0]["content"]  # k: all


def test_every_permutation_pass_sends_the_prepared_prompt_of_its_shift(demo_catalog, topk_prompts):
    history, candidates = demo_catalog.resolve(["m01"]), demo_catalog.resolve(["m05", "m07", "m09", "m11", "m12"])
    backend = RecordingBackend()
    ranker = _ranker(backend, topk_prompts, permutations=3)
    ranker.rank(history, candidates, k=3)
    assert len(backend.requests) == 3
    for p, (sent, _) in enumerate(backend.requests):
        assert sent == ranker.prepare(history, candidates, k=3, shift=pass_shift(p, 3, len(candidates))).messages
        assert "The user wants 3 of them." in sent[0]["content"]


def test_windows_carry_k_and_the_feedback_read_once(demo_catalog, topk_prompts, tmp_path, monkeypatch):
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    store.add("u1", "topk", demo_catalog["m02"], "liked")
    store.add("u1", "topk", demo_catalog["m06"], "disliked")
    reads = []
    for method in ("list", "negative_items"):
        real = getattr(store, method)
        monkeypatch.setattr(store, method, lambda *a, _real=real, _name=method, **kw: reads.append(_name) or _real(*a, **kw))
    history = demo_catalog.resolve(["m01"])
    from promptrec.data import UserHistory

    user = UserHistory.from_items(history, user_id="u1")
    candidates = demo_catalog.resolve(["m05", "m07", "m09", "m11", "m12", "m14", "m16", "m18"])
    backend = RecordingBackend()
    ranker = _ranker(backend, topk_prompts, window=4, stride=2, feedback=FeedbackConfig(store, examples=2))
    ranking = ranker.rank(user, candidates, k=2)
    during_rank = list(reads)
    assert len(backend.requests) == 3  # windows [4:8], [2:6], [0:4]
    single = _ranker(RecordingBackend(), topk_prompts, feedback=FeedbackConfig(store, examples=2))
    reads.clear()
    single.prepare(user, candidates, k=2)
    assert during_rank and during_rank == reads  # one request's reads, not one set per window
    examples_block = single.prepare(user, candidates, k=2).messages[-1]["content"].split("My feedback")[1].split("\n\n")[0]
    for sent, _ in backend.requests:
        assert "The user wants 2 of them." in sent[0]["content"]
        assert examples_block in sent[-1]["content"]  # the same examples in every window
    assert ranking.feedback_examples == 2


def test_batch_and_the_batch_api_export_send_what_rank_sends(demo_catalog, topk_prompts, tmp_path):
    from promptrec.backends.openai import OpenAIBackend
    from promptrec.openai_batch import export_requests

    record = {"id": "r1", "user_id": "u9", "history": ["m01", "m03"], "candidates": ["m05", "m07", "m09"], "k": 2,
              "scenario": "topk"}
    entry = parse_request(record, 1, tmp_path / "requests.jsonl", demo_catalog)
    backend = RecordingBackend()
    ranker = _ranker(backend, topk_prompts)
    result = rank_entry(entry, lambda scenario: ranker)
    assert not isinstance(result, Exception), result
    via_batch = backend.requests[0][0]
    assert via_batch == ranker.prepare(entry.request.history, entry.request.candidates, 2).messages
    assert "The user wants 2 of them." in via_batch[0]["content"]

    hosted = Ranker(OpenAIBackend("gpt-test", base_url="http://127.0.0.1:9/v1", api_key="unused"), "topk",
                    prompts_dirs=[topk_prompts], constrained=False)
    export_requests([entry], lambda scenario: hosted, tmp_path / "batch.jsonl")
    exported = json.loads((tmp_path / "batch.jsonl").read_text().splitlines()[0])["body"]["messages"]
    assert exported == via_batch
