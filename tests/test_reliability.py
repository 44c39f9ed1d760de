"""Bad bytes never crash the readers, and an API key never leaks into anything promptrec writes."""

import json
import logging

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai_stub import Reply, StubServer

from promptrec.cli import main
from promptrec.data import read_catalog, read_histories
from promptrec.errors import DataError

SENTINEL = "sk-SENTINEL-7f3a9c-never-write-me"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

jsonish = st.one_of(
    st.binary(max_size=400),
    st.lists(
        st.one_of(
            st.just(b'{"id": "a", "title": "A"}'),
            st.just(b'{"id": 1, "title": ""}'),
            st.just(b'{"title": "no id"}'),
            st.just(b'{"id": "a", "title": "dup"}'),
            st.just(b"[1, 2]"),
            st.just(b'{"id": "x", "title": "\xff\xfe"}'),
            st.just(b'{"user_id": "u", "history": ["a", {"id": "z"}, 3, null]}'),
            st.binary(max_size=40),
            st.text(max_size=40).map(str.encode),
        ),
        max_size=8,
    ).map(b"\n".join),
)
csvish = st.one_of(
    st.binary(max_size=300),
    st.lists(
        st.one_of(st.just(b"id,title"), st.just(b"user_id,item_id,timestamp"), st.just(b'1,"unterminated'),
                  st.just(b"a,A"), st.just(b"a,A,extra"), st.just(b"u,a,notanumber"), st.binary(max_size=30)),
        max_size=8,
    ).map(b"\n".join),
)


@FUZZ
@given(data=jsonish)
def test_jsonl_readers_give_a_catalog_or_a_located_data_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "f.jsonl"
    path.write_bytes(data)
    for read in (read_catalog, lambda p: read_histories(p, read_catalog_or_none(p))):
        try:
            read(path)
        except DataError as error:
            assert error.path == str(path) and str(error).startswith(str(path))


@FUZZ
@given(data=csvish)
def test_csv_readers_give_a_catalog_or_a_located_data_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "f.csv"
    path.write_bytes(data)
    for read in (read_catalog, read_histories):
        try:
            read(path)
        except DataError as error:
            assert error.path == str(path)


def read_catalog_or_none(path):
    try:
        return read_catalog(path)
    except DataError:
        return None


def test_huge_line_is_read_or_refused_cleanly(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps({"id": "a", "title": "x" * 2_000_000}) + "\n")
    assert len(read_catalog(path)["a"].title) == 2_000_000


def test_the_api_key_never_reaches_output_cache_logs_or_errors(tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    requests = tmp_path / "in.jsonl"
    requests.write_text(
        '{"id": "ok", "history": ["m01"], "candidates": ["m02", "m03", "m04"]}\n'
        '{"id": "bad", "history": ["m01"], "candidates": ["m05", "m06"]}\n'
    )

    def faults(n, body):
        text = json.dumps(body)
        return Reply(401, body={"error": {"message": "invalid api key", "type": "auth"}}) if "Finding Nemo" in text else Reply()

    cache_dir = tmp_path / "cache"
    with StubServer(faults) as server:
        runner = CliRunner()
        batch = runner.invoke(main, ["-vv", "batch", str(requests), "-o", str(tmp_path / "out.jsonl"), "--catalog", "demo",
                                     "--backend", "openai:stub", "--base-url", server.url, "--cache-dir", str(cache_dir), "--json"])
        rank = runner.invoke(main, ["-vv", "rank", "--catalog", "demo", "--history", "m01", "--candidates", "m05,m06",
                                    "--backend", "openai:stub", "--base-url", server.url, "--api-key", SENTINEL,
                                    "--cache-dir", str(cache_dir), "--json"])
        assert server.headers[0]["authorization"] == f"Bearer {SENTINEL}"  # it was really used
    assert batch.exit_code == 1 and rank.exit_code == 1 and "invalid api key" in rank.output  # a failed request: exit 1
    seen = [batch.output, batch.stderr, rank.output, rank.stderr, caplog.text, (tmp_path / "out.jsonl").read_text()]
    seen += [p.read_bytes().decode("utf-8", "replace") for p in cache_dir.rglob("*") if p.is_file()]
    assert json.loads(batch.stdout.splitlines()[0])["failed"] == 1
    for text in seen:
        assert SENTINEL not in text


# ---------------------------------------------------------------------------------------- hardening (issue 27)

import sys  # noqa: E402

KEY_27 = "sk-SENTINEL-27-grep-every-file"


def _every_file(folder):
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}


def test_no_output_file_of_a_batch_run_or_an_eval_holds_the_key(tmp_path, caplog, monkeypatch):
    """The key given as --api-key, as -O api_key= (config show) and inside the base URL (user:KEY@), with a server
    that echoes it back in an error: no file a batch run or an evaluation writes, and nothing printed, holds it."""
    import base64

    from fixtures_helpers import fixtures_root

    caplog.set_level(logging.DEBUG)

    def echo(n, body):
        if n % 3 == 0:  # every third call fails, with the key echoed back
            return Reply(401, body={"error": {"message": f"bad key: Bearer {KEY_27}", "type": "auth"}})
        return Reply()

    requests = tmp_path / "in.jsonl"
    requests.write_text("".join(json.dumps({"id": f"r{i}", "history": ["m01"], "candidates": ["m02", "m03", "m04"][: 2 + i % 2]})
                                + "\n" for i in range(6)))
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    runner = CliRunner()
    with StubServer(echo) as server:
        url = server.url.replace("http://", f"http://user:{KEY_27}@")
        evaluation = ["-vv", "eval", "-d", f"movielens:{fixtures_root() / 'tinylens'}", "-n", "2", "--protocol", "llmrank",
                      "--valid-users", "0", "--no-fusion", "--candidates", "5", "--backend", "openai:stub", "--base-url", url,
                      "--api-key", KEY_27, "--cache-dir", str(outputs / "cache"), "-o", str(outputs / "run")]
        monkeypatch.setattr(sys, "argv", ["promptrec", *evaluation])  # the evaluation records its command line
        runs = [
            runner.invoke(main, ["-vv", "batch", str(requests), "-o", str(outputs / "out.jsonl"), "--catalog", "demo",
                                 "--api-key", KEY_27, "--backend", "openai:stub", "--base-url", url, "--cache-dir",
                                 str(outputs / "cache"), "--max-attempts", "1", "--json"]),
            runner.invoke(main, evaluation),
            runner.invoke(main, ["config", "show", "--backend", "openai:x", "--base-url", url, "-O", f"api_key={KEY_27}"]),
        ]
        basic = base64.b64encode(f"user:{KEY_27}".encode()).decode()
        sent = " ".join(header.get("authorization", "") for header in server.headers)
        assert KEY_27 in sent or basic in sent  # the key was really used
    # a batch whose requests failed exits 1 (their error lines are written); the eval and config show succeed
    assert runs[0].exit_code in (0, 1) and [run.exit_code for run in runs[1:]] == [0, 0], [run.output[-500:] for run in runs]
    written = _every_file(outputs)
    assert any(name.endswith("report.md") for name in written) and any(name.endswith("out.jsonl") for name in written)
    leaks = [name for name, data in written.items() if KEY_27.encode() in data]
    leaks += [f"output of run {i}" for i, run in enumerate(runs) if KEY_27 in run.output + run.stderr]
    assert not leaks and KEY_27 not in caplog.text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=csvish | jsonish)
def test_interactions_reader_property_only_data_errors_and_every_known_row_counted(tmp_path_factory, data):
    """read_interactions (popularity and co-occurrence read it): any bytes give Interactions or a DataError
    naming the file; rows naming catalog items are all kept (skipped ones are counted, never silently lost)."""
    from promptrec.data import Catalog, Item
    from promptrec.retrieval import read_interactions

    catalog = Catalog([Item(id=i, title=i.upper()) for i in ("a", "b", "x")])
    folder = tmp_path_factory.mktemp("fuzz")
    for name in ("f.csv", "f.jsonl"):
        path = folder / name
        path.write_bytes(data)
        try:
            interactions = read_interactions(path, catalog)
        except DataError as error:
            assert error.path == str(path)
        else:
            assert len(interactions) + interactions.skipped >= 1
