"""promptrec.lazy: names a package exports but imports on first use."""

import subprocess
import sys

import pytest


def test_a_lazy_name_loads_on_first_use_and_stays():
    code = ("import sys, promptrec, promptrec.retrieval as r; assert 'promptrec.pipeline' not in sys.modules; "
            "assert 'numpy' not in sys.modules; cls = r.CooccurrenceRetriever; assert r.__dict__['CooccurrenceRetriever'] is cls; "
            "assert promptrec.Recommender.__name__ == 'Recommender' and 'promptrec.pipeline' in sys.modules; "
            "assert 'Recommender' in dir(promptrec) and 'SemanticRetriever' in dir(r)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_unknown_name_is_an_attribute_error_naming_the_package():
    import promptrec.retrieval

    with pytest.raises(AttributeError, match="module 'promptrec.retrieval' has no attribute 'Nope'"):
        promptrec.retrieval.Nope  # noqa: B018


def test_lazy_exports_makes_a_package_s_getattr_and_dir():
    import types

    from promptrec.lazy import lazy_exports

    package = types.ModuleType("fake_package")
    sys.modules["fake_package"] = package
    try:
        package.__getattr__, package.__dir__ = lazy_exports("fake_package", {"dumps": "json"}, ["dumps"])
        import json

        assert package.dumps is json.dumps and package.__dict__["dumps"] is json.dumps
        assert dir(package) == ["dumps"]
        with pytest.raises(AttributeError, match="module 'fake_package' has no attribute 'loads'"):
            package.loads  # noqa: B018
    finally:
        del sys.modules["fake_package"]
