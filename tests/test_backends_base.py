"""The common backend base (capability defaults, options models) and a backend registered from outside
the package through an entry point, used by get_backend, the configuration and the CLI."""

import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from promptrec.backends import (
    BackendOptions,
    BaseBackend,
    backend_kinds,
    capability,
    get_backend,
    options_model,
)
from promptrec.backends.base import estimate_tokens, supports_request_bodies, supports_scoring
from promptrec.errors import BackendError
from promptrec.scoring import single_token_labels

#: a backend in its own distribution: a module and the metadata an installed wheel has (entry_points.txt)
ECHO_MODULE = '''
from pydantic import Field
from promptrec.backends import BackendOptions, BaseBackend, Completion


class EchoOptions(BackendOptions):
    reverse: bool = Field(False, description="rank the shown labels back to front")


class EchoBackend(BaseBackend):
    """Answers with the prompt's labels in the order shown (or reversed)."""

    Options = EchoOptions

    def __init__(self, model=None, reverse=False):
        self.name = f"echo:{model}"
        self.reverse = reverse

    def complete(self, messages, params):
        import re
        labels = list(dict.fromkeys(re.findall(r"\\[([A-Z])\\]", messages[-1]["content"])))
        order = labels[::-1] if self.reverse else labels
        return Completion(text=" > ".join(f"[{label}]" for label in order), model=self.name)
'''


@pytest.fixture
def echo_package(tmp_path, monkeypatch):
    """A distribution 'promptrec-echo' that registers the kind ``echo`` by an entry point, on sys.path."""
    (tmp_path / "promptrec_echo.py").write_text(ECHO_MODULE, encoding="utf-8")
    info = tmp_path / "promptrec_echo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: promptrec-echo\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[promptrec.backends]\necho = promptrec_echo:EchoBackend\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_an_entry_point_backend_is_known_created_and_checked(echo_package):
    assert backend_kinds()["echo"] == "promptrec_echo:EchoBackend"
    backend = get_backend("echo:m1", reverse=True)
    assert type(backend).__name__ == "EchoBackend" and backend.name == "echo:m1" and backend.reverse is True
    assert list(options_model("echo").model_fields) == ["reverse"]
    with pytest.raises(BackendError, match="backend 'echo' does not take colour; it takes: reverse"):
        get_backend("echo", colour="red")
    with pytest.raises(BackendError, match="option reverse: Input should be a valid boolean"):
        get_backend("echo", reverse="sideways")


def test_an_entry_point_backend_ranks_from_the_command_line(echo_package):
    from promptrec.cli import main

    args = ["rank", "--catalog", "demo", "--history", "m01", "--candidates", "m02,m03,m04", "--no-shuffle",
            "--no-cache", "--no-feedback", "--backend", "echo:x", "--json"]
    import json

    shown = json.loads(CliRunner().invoke(main, args, catch_exceptions=False).output)
    backwards = json.loads(CliRunner().invoke(main, [*args, "-O", "reverse=true"], catch_exceptions=False).output)
    ids = [entry["item"]["id"] for entry in shown["items"]]
    assert ids == ["m02", "m03", "m04"]
    assert [entry["item"]["id"] for entry in backwards["items"]] == ids[::-1]
    bad = CliRunner().invoke(main, [*args, "-O", "colour=red"])
    assert bad.exit_code == 2 and "backend 'echo' does not take colour" in bad.output and "Traceback" not in bad.output
    listed = CliRunner().invoke(main, ["backends"]).output
    assert "echo  (promptrec_echo:EchoBackend)" in listed and "-O reverse=..." in listed


def test_the_entry_point_works_in_a_fresh_process(echo_package):
    """As in a real install: nothing registered in this process, only the metadata on the path."""
    code = textwrap.dedent("""
        from promptrec.backends import get_backend
        from promptrec.ranker import Ranker
        from promptrec.data import Item, UserHistory
        items = [Item(id=f"i{n}", title=f"Item {n}") for n in range(3)]
        ranking = Ranker(get_backend("echo", reverse=True), "default", shuffle=False).rank(UserHistory.from_items(items[:1]), items[1:])
        print([r.item.id for r in ranking.items])
    """)
    env = {"PYTHONPATH": str(echo_package), "PATH": "/usr/bin:/bin", "PROMPTREC_CACHE_DIR": str(echo_package / "cache"),
           "PROMPTREC_FEEDBACK_DB": str(echo_package / "feedback.db")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['i2', 'i1']"


class Minimal:
    """Only the protocol: no base class, no capability attributes."""

    name = "minimal"
    context_window = None
    supports_grammar = False

    def complete(self, messages, params):
        raise AssertionError("not called")

    def count_tokens(self, messages):
        return estimate_tokens(messages)


def test_every_capability_has_a_default_on_the_base():
    base = BaseBackend()
    for name in ("supports_grammar", "supports_structured", "supports_scoring", "supports_concurrency",
                 "supports_request_bodies"):
        assert getattr(base, name) is False and capability(Minimal(), name) is False
    assert base.label_token_ids(["A"]) is None and base.dialect_for(None) is None and base.reset() is None
    assert capability(Minimal(), "dialect_for")(None) is None  # a default method, bound to the backend
    with pytest.raises(BackendError, match="cannot score labels"):
        base.score_labels([], ["A"])
    with pytest.raises(BackendError, match="builds no request bodies"):
        base.request_body([], None)
    assert not supports_scoring(base) and not supports_request_bodies(BaseBackend)
    assert single_token_labels(Minimal(), 3) == single_token_labels(base, 3) == ["A", "B", "C"]


def test_built_in_backends_declare_their_options_and_capabilities():
    from promptrec.backends.llamacpp import LlamaCppBackend
    from promptrec.backends.openai import OpenAIBackend

    assert issubclass(LlamaCppBackend.Options, BackendOptions) and "n_ctx" in LlamaCppBackend.Options.model_fields
    assert LlamaCppBackend.supports_grammar and LlamaCppBackend.supports_scoring
    assert not LlamaCppBackend.supports_concurrency and not supports_request_bodies(LlamaCppBackend)
    assert OpenAIBackend.supports_concurrency and supports_request_bodies(OpenAIBackend)
    assert OpenAIBackend.Options.model_fields["api_key"].json_schema_extra == {"secret": True}
    off = get_backend("openai:m", base_url="http://127.0.0.1:9/v1", structured="off")
    assert capability(off, "supports_structured") is False


def test_a_class_without_an_options_model_gets_one_from_its_constructor(monkeypatch):
    import promptrec.backends

    class Plain(Minimal):
        def __init__(self, model=None, temperature_bias: float = 0.0):
            self.model, self.bias = model, temperature_bias

    monkeypatch.setitem(promptrec.backends._registered, "plain", Plain)
    assert list(options_model("plain").model_fields) == ["temperature_bias"]
    assert get_backend("plain:x", temperature_bias=0.5).bias == 0.5
    with pytest.raises(BackendError, match="does not take n_ctx"):
        get_backend("plain", n_ctx=1)
