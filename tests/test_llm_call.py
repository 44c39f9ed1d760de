"""One LLM call: cached, retried, counted."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import ScriptedBackend  # noqa: E402

from promptrec.backends import GenerationParams  # noqa: E402
from promptrec.cache import CompletionCache  # noqa: E402
from promptrec.errors import BackendError  # noqa: E402
from promptrec.llm.call import Call, LLMCall  # noqa: E402
from promptrec.retry import RetryPolicy  # noqa: E402

MESSAGES = [{"role": "user", "content": "rank these"}]


def test_a_second_identical_call_is_served_from_the_cache(tmp_path):
    backend = ScriptedBackend(["[A] > [B]"])
    llm = LLMCall(backend, CompletionCache(tmp_path))
    first = llm.complete(MESSAGES, GenerationParams(max_tokens=8), ["A", "B"])
    second = llm.complete(MESSAGES, GenerationParams(max_tokens=8), ["A", "B"])
    assert isinstance(first, Call) and first.value.text == second.value.text == "[A] > [B]"
    assert (first.cached, second.cached) == (False, True)
    assert (llm.calls, llm.cache_hits) == (1, 1) and len(backend.requests) == 1


def test_transient_failures_are_retried_and_counted():
    class Flaky(ScriptedBackend):
        failures = 2

        def complete(self, messages, params):
            if self.failures:
                self.failures -= 1
                raise TimeoutError("slow")
            return super().complete(messages, params)

    llm = LLMCall(Flaky(["[A]"]), None, RetryPolicy(attempts=3, initial=0.0, maximum=0.0))
    call = llm.complete(MESSAGES, GenerationParams(max_tokens=4))
    assert call.retries == 2 and call.value.text == "[A]"
    failing = LLMCall(Flaky(["[A]"]), None, RetryPolicy(attempts=1, initial=0.0, maximum=0.0))
    try:
        failing.complete(MESSAGES, GenerationParams(max_tokens=4))
    except (BackendError, TimeoutError):
        pass
    else:
        raise AssertionError("a failure past the attempts must raise")
