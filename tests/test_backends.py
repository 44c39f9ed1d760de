"""The backend registry (promptrec/backends/__init__.py): get_backend's kinds, options and missing extras."""

import sys

import pytest

from promptrec.backends import get_backend
from promptrec.errors import BackendError, MissingDependencyError, UnknownBackendError


def test_unknown_kind_lists_the_known_ones():
    with pytest.raises(UnknownBackendError) as info:
        get_backend("anthropic:claude")
    assert "unknown backend kind 'anthropic'" in str(info.value)
    assert "llamacpp" in str(info.value) and "openai" in str(info.value)


def test_unknown_option_lists_the_accepted_ones():
    with pytest.raises(BackendError, match="does not take colour; it takes: .*n_ctx"):
        get_backend("llamacpp", colour="blue")


@pytest.mark.parametrize("module, spec, extra", [("llama_cpp", "llamacpp", "local"), ("openai", "openai:gpt-4o-mini", "openai")])
def test_missing_dependency_names_the_extra(monkeypatch, module, spec, extra):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with pytest.raises(MissingDependencyError, match=rf"pip install 'promptrec\[{extra}\]'"):
        get_backend(spec)
