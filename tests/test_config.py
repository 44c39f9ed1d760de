"""PipelineConfig: one configuration that builds backend, scenario, ranker, cache, feedback and retrieval, read
from TOML or JSON, with errors that say where; the CLI's options on top of a --config file."""

import json
import tomllib

import pytest
from click.testing import CliRunner
from conftest import ScriptedBackend

from promptrec.cli import demo_catalog_path, main
from promptrec.config import ConfigError, PipelineConfig, config_from_options, parse_option_pairs
from promptrec.data import UserHistory, read_catalog
from promptrec.ray import pipeline_config as ray_config

FULL = """
scenario = "movies"

[backend]
spec = "openai:qwen"
base_url = "http://127.0.0.1:9/v1"
api_key = "sk-secret"
timeout = 30

[ranker]
mode = "score"
permutations = 3
max_history = 10

[cache]
enabled = false

[feedback]
examples = 1
selection = "similar"

[retrieval]
retriever = "bm25"
pool = 12
llm_weight = 0.25
"""


def test_toml_and_json_read_the_same_and_toml_round_trips(tmp_path):
    toml_file, json_file = tmp_path / "run.toml", tmp_path / "run.json"
    toml_file.write_text(FULL, encoding="utf-8")
    json_file.write_text(json.dumps(tomllib.loads(FULL)), encoding="utf-8")
    config = PipelineConfig.load(toml_file)
    assert config == PipelineConfig.load(json_file)
    assert config.backend.options == {"base_url": "http://127.0.0.1:9/v1", "api_key": "sk-secret", "timeout": 30}
    assert (config.ranker.mode, config.ranker.permutations, config.retrieval.pool) == ("score", 3, 12)
    again = tmp_path / "again.toml"
    again.write_text(config.to_toml(secrets=True), encoding="utf-8")
    assert PipelineConfig.load(again) == config
    assert "sk-secret" not in config.to_toml() and "api_key" not in config.to_dict()["backend"]


@pytest.mark.parametrize("text, expected", [
    ("[ranker]\nmode = \"generate\"\ncolour = 1\n", "run.toml:3: ranker.colour: unknown option"),
    ("[ranker]\n\npermutations = 0\n", "run.toml:3: ranker.permutations: Input should be greater than or equal to 1"),
    ("[ranker]\nmode = \"generate\"\ncalibrate = true\n", "run.toml:3: ranker.calibrate: calibrate needs mode"),
    ("[ranker]\nmode = \"rank\"\n", "run.toml:2: ranker.mode: unknown mode 'rank'"),
    ("[feedbak]\nexamples = 1\n", "run.toml:1: feedbak: unknown option; the sections are: scenario, prompts"),
    ("[backend]\nspec = \"llamacpp\"\nbase_url = \"http://x\"\n", "backend 'llamacpp' does not take base_url; it takes: n_ctx"),
    ("[backend]\nspec = \"anthropic:claude\"\n", "unknown backend kind 'anthropic'"),
    ("[retrieval]\nllm_weight = 2\n", "run.toml:2: retrieval.llm_weight: Input should be less than or equal to 1"),
    ("[ranker\nmode = 1\n", "run.toml: invalid TOML"),
])
def test_bad_files_say_where_and_what(tmp_path, text, expected):
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        PipelineConfig.load(path)
    assert expected in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_and_malformed_json_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read configuration .*absent.toml"):
        PipelineConfig.load(tmp_path / "absent.toml")
    (tmp_path / "run.json").write_text('{"ranker": {\n"mode": }', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"run.json:2: invalid JSON"):
        PipelineConfig.load(tmp_path / "run.json")


def test_backend_changes_keep_options_of_the_same_kind_only():
    config = PipelineConfig.from_dict({"backend": {"spec": "openai:a", "base_url": "http://127.0.0.1:9/v1"}})
    assert config.with_backend("openai:b").backend.options == {"base_url": "http://127.0.0.1:9/v1"}
    assert config.with_backend("llamacpp").backend.options == {}
    assert config.with_backend("llamacpp", {"base_url": "x", "n_ctx": 512}, lenient=True).backend.options == {"n_ctx": 512}
    with pytest.raises(ConfigError, match="does not take base_url"):
        config.with_backend("llamacpp", {"base_url": "x"})
    assert parse_option_pairs(["timeout=30", "structured=off", "x=[1, 2]"]) == {"timeout": 30, "structured": "off", "x": [1, 2]}
    with pytest.raises(ConfigError, match="'timeout' is not KEY=VALUE"):
        parse_option_pairs(["timeout"])


def test_options_given_override_the_file_and_defaults_do_not():
    base = PipelineConfig.from_dict(tomllib.loads(FULL))
    fields = {"mode": ("ranker", "mode"), "pool": ("retrieval", "pool"), "scenario": (None, "scenario")}
    options = {"mode": "generate", "pool": 5, "scenario": "books", "no_cache": False, "base_url": None}
    config = config_from_options(base, options, fields, given=lambda name: name == "pool")
    assert (config.ranker.mode, config.retrieval.pool, config.scenario) == ("score", 5, "movies")
    assert config.backend == base.backend


def test_config_show_writes_what_rank_reads(tmp_path):
    runner = CliRunner()
    shown = runner.invoke(main, ["config", "show", "--catalog", "demo", "--mode", "score", "--permutations", "2",
                                 "--llm-weight", "0.3", "-O", "n_ctx=1024"])
    assert shown.exit_code == 0, shown.output
    (tmp_path / "run.toml").write_text(shown.output, encoding="utf-8")
    config = PipelineConfig.load(tmp_path / "run.toml")
    assert (config.scenario, config.ranker.mode, config.ranker.permutations) == ("movies", "score", 2)
    assert (config.retrieval.llm_weight, config.backend.options) == (0.3, {"n_ctx": 1024})
    # the file is the base; an option on the command line wins, a default does not
    again = runner.invoke(main, ["config", "show", "--config", str(tmp_path / "run.toml"), "--permutations", "4", "--json"])
    data = json.loads(again.output)
    assert data["ranker"]["mode"] == "score" and data["ranker"]["permutations"] == 4 and data["scenario"] == "movies"
    bad = runner.invoke(main, ["rank", "--config", str(tmp_path / "absent.toml"), "--catalog", "demo", "--history", "m01"])
    assert bad.exit_code == 2 and "cannot read configuration" in bad.output and "Traceback" not in bad.output


def test_one_configuration_builds_the_same_ranker_everywhere(monkeypatch, tmp_path):
    """The CLI, Ray's mapping form and the Python API give rankers with the same options and prompts."""
    config = PipelineConfig.from_dict({"scenario": "movies", "ranker": {"permutations": 2, "max_history": 5},
                                       "cache": {"enabled": False}, "feedback": {"enabled": False}})
    legacy = ray_config({"backend": "llamacpp", "scenario": "movies", "permutations": 2, "max_history": 5})
    assert legacy == config
    catalog = read_catalog(demo_catalog_path())
    items = [catalog.get(f"m0{n}") for n in range(1, 7)]

    history = UserHistory.from_items(items[:3])
    prompts = []
    for built in (config, legacy):
        ranker = built.make_ranker(backend=ScriptedBackend(["[A] > [B] > [C]"] * 2))
        assert (ranker.permutations, ranker.max_history, ranker.cache, ranker.feedback_config) == (2, 5, None, None)
        prompts.append(ranker.prepare(history, items[3:6]).messages)
    assert prompts[0] == prompts[1]


def test_rankers_check_the_scenario_before_any_backend_is_made(monkeypatch):
    made = []
    monkeypatch.setattr(PipelineConfig, "make_backend", lambda self: made.append(1) or ScriptedBackend([]))
    with pytest.raises(Exception, match="no-such-scenario"):
        PipelineConfig.from_dict({"scenario": "no-such-scenario"}).rankers()
    rankers = PipelineConfig.from_dict({"feedback": {"enabled": False}, "cache": {"enabled": False}}).rankers()
    assert made == []
    assert rankers("movies") is rankers("movies") and rankers("books").backend is rankers("movies").backend
    assert made == [1]


def test_weight_zero_recommends_without_a_model(monkeypatch):
    monkeypatch.setattr(PipelineConfig, "make_backend", lambda self: pytest.fail("no model should load"))
    config = PipelineConfig.from_dict({"scenario": "movies", "retrieval": {"retriever": "bm25", "llm_weight": 0.0},
                                       "feedback": {"enabled": False}})
    catalog = read_catalog(demo_catalog_path())
    ranking = config.make_recommender(catalog).recommend(UserHistory.from_items([catalog.get("m01")]), 5)
    assert len(ranking.items) == 5 and ranking.retriever and ranking.llm_weight == 0.0
    assert "m01" not in [entry.item.id for entry in ranking.items]


def test_an_evaluation_embeds_its_configuration_and_repeats_from_it(tmp_path, monkeypatch):
    pytest.importorskip("ir_measures")
    import re

    import promptrec.backends
    from conftest import TINYLENS

    from promptrec.backends import BaseBackend, Completion
    from promptrec.cli.eval import eval_command

    class Reversing(BaseBackend):
        def __init__(self, model=None):
            self.name = f"stub:{model}"

        def complete(self, messages, params):
            labels = list(dict.fromkeys(re.findall(r"\[([A-Z])\]", messages[-1]["content"])))
            return Completion(text=" > ".join(f"[{label}]" for label in labels[::-1]), model=self.name)

    monkeypatch.setitem(promptrec.backends._registered, "stub", Reversing)
    common = ["-d", f"movielens:{TINYLENS}", "-n", "6", "--valid-users", "4", "--force", "--no-cache"]
    first = CliRunner().invoke(eval_command, [*common, "--backend", "stub:reverse", "--mode", "generate",
                                              "--permutations", "2", "-o", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    results = json.loads((tmp_path / "a" / "results.json").read_text())
    (embedded,) = results["configurations"]
    assert embedded["backend"] == {"spec": "stub:reverse"} and embedded["ranker"]["permutations"] == 2
    assert embedded["ranker"]["max_history"] == 20 and embedded["feedback"]["enabled"] is False
    assert "[backend]\nspec = \"stub:reverse\"" in (tmp_path / "a" / "report.md").read_text()
    again = CliRunner().invoke(eval_command, [*common, "--config", str(tmp_path / "a" / "config.toml"),
                                              "-o", str(tmp_path / "b")])
    assert again.exit_code == 0, again.output
    repeated = json.loads((tmp_path / "b" / "results.json").read_text())
    assert repeated["configurations"] == results["configurations"]

    def llm_rows(run):
        return [(m["name"], m["metrics"]) for d in run["datasets"] for m in d["methods"] if m["kind"] == "llm"]

    assert llm_rows(repeated) == llm_rows(results) and llm_rows(results)


# ---------------------------------------------------------------------------------------- hardening (issue 27)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

#: (name, file name, bytes, words of the message): each a ConfigError naming the file, never a traceback
BAD_CONFIGS = [
    ("TOML arrays 5000 deep", "c.toml", b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested"),
    ("TOML inline tables 2000 deep", "c.toml", b"a = " + b"{b = " * 2000 + b"1" + b"}" * 2000 + b"\n", "nested"),
    ("TOML tables 100 deep", "c.toml", b"[" + b".".join(b"t%d" % i for i in range(100)) + b"]\nx = 1\n", "nested"),
    ("JSON 100000 deep", "c.json", b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested"),
    ("TOML not UTF-8", "c.toml", 'scenario = "caf\xe9"\n'.encode("latin-1"), "UTF-8"),
    ("JSON not UTF-8, line 2", "c.json", '{\n"scenario": "caf\xe9"}'.encode("latin-1"), ":2: not valid UTF-8"),
    ("JSON NaN", "c.json", b'{"ranker": {"temperature": NaN}}', "NaN"),
    ("TOML nan", "c.toml", b"[ranker]\ntemperature = nan\n", "finite"),
    ("TOML inf", "c.toml", b"[retrieval]\nllm_weight = inf\n", "finite"),
    ("pool = true", "c.toml", b"[retrieval]\npool = true\n", "not true"),
    ("seed = false", "c.toml", b"[ranker]\nseed = false\n", "not false"),
    ("examples = true", "c.json", b'{"feedback": {"examples": true}}', "not true"),
]


@pytest.mark.parametrize(("name", "file", "content", "words"), BAD_CONFIGS, ids=[case[0] for case in BAD_CONFIGS])
def test_bad_configuration_files_are_config_errors(tmp_path, name, file, content, words):
    path = tmp_path / file
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        PipelineConfig.load(path)
    assert str(path) in str(info.value) and words in str(info.value)


def test_booleans_stay_booleans_and_numbers_numbers(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[ranker]\nmode = \"score\"\nshuffle = false\ncalibrate = true\nseed = 3\n[retrieval]\npool = 7\n")
    config = PipelineConfig.load(path)
    assert (config.ranker.shuffle, config.ranker.calibrate, config.ranker.seed, config.retrieval.pool) == (False, True, 3, 7)


def test_a_byte_order_mark_is_fine(tmp_path):
    path = tmp_path / "c.toml"
    path.write_bytes(b"\xef\xbb\xbfscenario = \"movies\"\n")
    assert PipelineConfig.load(path).scenario == "movies"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200) | st.lists(st.sampled_from(
    [b"[ranker]", b"[retrieval]", b"pool = true", b"seed = nan", b"mode = 5", b"a = [[[[[[", b"{", b"}", b"[backend]",
     b'spec = "openai:x"', b"\xff", b"temperature = -1", b"permutations = 0", b"x = 1e999"]), max_size=8).map(b"\n".join))
def test_config_loader_property_only_config_errors(tmp_path_factory, data):
    """Whatever the bytes, a .toml or .json configuration loads or is a ConfigError naming the file."""
    folder = tmp_path_factory.mktemp("prop")
    for name in ("c.toml", "c.json"):
        path = folder / name
        path.write_bytes(data)
        try:
            PipelineConfig.load(path)
        except ConfigError as error:
            assert str(path) in str(error)


def test_the_data_section_names_your_columns(tmp_path):
    from promptrec.data import Columns

    (tmp_path / "items.tsv").write_text("sku\tname\tbrand\tnote\np1\tShoes\tAcme\tx\np2\tSocks\tAcme\ty\n")
    (tmp_path / "orders.csv").write_text("customer,sku\nc1,p1\nc1,p2\nc2,p1\n")
    (tmp_path / "run.toml").write_text(
        f'[data]\nid_col = "sku"\ntitle_col = "name"\ntext_cols = ["brand"]\nuser_col = "customer"\nitem_col = "sku"\n'
        f'[retrieval]\ninteractions = "{tmp_path / "orders.csv"}"\nretriever = "cooccurrence"\n')
    config = PipelineConfig.load(tmp_path / "run.toml")
    assert config.data.columns() == Columns(id="sku", title="name", text=("brand",), user="customer", item="sku")
    catalog = config.read_catalog(tmp_path / "items.tsv")
    assert dict(catalog["p1"].attributes) == {"brand": "Acme"}
    assert config.make_retriever(catalog).interactions.n_users == 2
    assert PipelineConfig.from_dict(config.to_dict()) == config
    assert 'text_cols = ["brand"]' in config.to_toml()
    with pytest.raises(ConfigError, match="data.id_colum: unknown option"):
        PipelineConfig.from_dict({"data": {"id_colum": "x"}})
