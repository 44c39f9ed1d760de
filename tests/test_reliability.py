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
    assert batch.exit_code == 0 and rank.exit_code == 1 and "invalid api key" in rank.output
    seen = [batch.output, batch.stderr, rank.output, rank.stderr, caplog.text, (tmp_path / "out.jsonl").read_text()]
    seen += [p.read_bytes().decode("utf-8", "replace") for p in cache_dir.rglob("*") if p.is_file()]
    assert json.loads(batch.stdout.splitlines()[0])["failed"] == 1
    for text in seen:
        assert SENTINEL not in text
