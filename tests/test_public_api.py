"""The top-level API: what `import promptrec` gives a user, and that it stays light."""

import json
import subprocess
import sys


def test_import_is_light_and_the_pipeline_loads_when_named():
    code = ("import json, sys, promptrec\n"
            "heavy = ('numpy', 'scipy', 'pandas', 'llama_cpp', 'openai', 'sqlalchemy', 'fastapi', 'ray')\n"
            "before = [m for m in heavy if m in sys.modules]\n"
            "promptrec.Recommender, promptrec.recommend_many\n"
            "print(json.dumps({'before': before, 'after': 'numpy' in sys.modules}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report == {"before": [], "after": True}


def test_every_public_name_resolves():
    import promptrec

    for name in promptrec.__all__:
        assert getattr(promptrec, name) is not None, name
    assert {"Recommender", "Catalog", "Item", "Ranker", "Columns", "PipelineConfig", "recommend_many"} <= set(dir(promptrec))
    errors = {name for name in promptrec.__all__ if name.endswith("Error")}
    assert errors >= {"PromptrecError", "DataError", "OptionError", "ConfigError", "BackendError", "ScenarioError",
                      "UnknownBackendError", "MissingDependencyError", "ContextOverflowError", "ModelNotFoundError",
                      "EmptyPoolError"}
    assert all(issubclass(getattr(promptrec, name), promptrec.PromptrecError) for name in errors)
    from promptrec.pipeline import Recommender

    assert promptrec.Recommender is Recommender
