"""The HTTP API over real HTTP on 127.0.0.1 (uvicorn in a thread), on SQLite and on PostgreSQL: every
endpoint, the key, the limits, and bad input that leaves everything stored as it was."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("fastapi", reason="needs the server extra")
pytest.importorskip("sqlalchemy", reason="needs the server extra")

from service_helpers import DATABASES, demo_service  # noqa: E402

from promptrec.service.app import create_app  # noqa: E402  (the module under test; demo_service calls it)

assert create_app


@pytest.fixture(scope="module", params=DATABASES)
def client(request, tmp_path_factory):
    with demo_service(tmp_path_factory.mktemp(f"app-{request.param}"), request.param) as client:
        yield client


def key(client) -> dict[str, str]:
    return {"X-API-Key": client.key}


def state(client) -> tuple:
    """Everything stored that bad input must not change."""
    store = client.service.store
    return (store.catalog_version(), store.count_items(), store.count_feedback(),
            [(s.item, s.hidden) for s in store.items()])


def test_health_and_openapi(client):
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["items"] >= 24
    schema = client.get("/openapi.json").json()
    for path in ("/health", "/items", "/items/{item_id}", "/items/{item_id}/similar", "/feedback",
                 "/users/{user_id}/feedback", "/users/{user_id}/recommendations", "/recommendations", "/metrics"):
        assert path in schema["paths"], path
    assert set(schema["paths"]["/items/{item_id}"]) == {"get", "delete"}


def test_the_issue_loop_feedback_then_recommendations_then_a_dislike(client):
    assert client.post("/feedback", json=[{"user": "u9", "item": "m01", "label": "liked"}]).status_code == 401
    added = client.post("/feedback", json=[{"user": "u9", "item": "m01", "label": "liked"}], headers=key(client))
    assert added.status_code == 200 and added.json() == {"added": 1}
    answer = client.get("/users/u9/recommendations", params={"n": 5}).json()
    assert answer["user"] == "u9" and len(answer["items"]) == 5
    for item in answer["items"]:
        assert item["id"] and item["title"] and item["reason"].strip()
        assert set(item["stages"]) == {"retrieval", "retrieval_rank", "feedback", "llm", "fused"}
        assert item["stages"]["llm"] is None  # weight 0 on the bundled model: the LLM is not asked
    assert "m01" not in [i["id"] for i in answer["items"]]  # the liked item is history now
    assert any("The Matrix" in i["reason"] for i in answer["items"])
    first = answer["items"][0]["id"]
    client.post("/feedback", json=[{"user": "u9", "item": first, "label": "disliked"}], headers=key(client))
    after = client.get("/users/u9/recommendations", params={"n": 5}).json()
    assert first not in [i["id"] for i in after["items"]] and len(after["items"]) == 5
    stored = client.get("/users/u9/feedback").json()
    assert [(f["item"], f["label"]) for f in stored][-2:] == [("m01", "liked"), (first, "disliked")]
    assert [f["item"] for f in client.get("/users/u9/feedback", params={"label": "disliked"}).json()] == [first]


def test_items_are_upserted_fetched_searched_hidden_and_similar(client):
    new = [{"id": "x1", "title": "Alien Harvest", "attributes": {"genres": ["Horror", "Sci-Fi"], "year": 2031}},
           {"id": "x2", "title": "Quiet Garden", "attributes": {"genres": ["Drama"]}}]
    written = client.post("/items", json=new, headers=key(client))
    assert written.status_code == 200 and written.json()["upserted"] == 2
    assert client.get("/items/x1").json() == {**new[0], "hidden": False}
    assert [i["id"] for i in client.get("/items", params={"q": "alien"}).json()][:1] == ["m03"]
    assert "x1" in [i["id"] for i in client.get("/items", params={"q": "alien"}).json()]
    similar = client.get("/items/x1/similar", params={"n": 3}).json()
    assert similar["item"] == "x1" and len(similar["items"]) == 3 and all(i["reason"] for i in similar["items"])
    assert client.delete("/items/x1").status_code == 401
    hidden = client.delete("/items/x1", headers=key(client))
    assert hidden.status_code == 200 and hidden.json()["hidden"] is True
    assert client.get("/items/x1").json()["hidden"] is True
    assert "x1" not in [i["id"] for i in client.get("/items", params={"q": "alien"}).json()]
    assert "x1" not in [i["id"] for i in client.get("/items/m03/similar", params={"n": 30}).json()["items"]]
    session = client.post("/recommendations", json={"history": ["m03"], "n": 30}).json()
    assert "x1" not in [i["id"] for i in session["items"]]
    assert client.get("/items/nope").status_code == 404
    assert client.delete("/items/nope", headers=key(client)).status_code == 404
    assert "not in the catalog" in client.get("/items/nope/similar").json()["detail"]


def test_a_session_needs_no_user_no_key_and_stores_nothing(client):
    before = state(client)
    answer = client.post("/recommendations", json={
        "history": ["m01", "m03"], "feedback": [{"item": "m11", "label": "disliked"}], "n": 5})
    assert answer.status_code == 200
    ids = [i["id"] for i in answer.json()["items"]]
    assert len(ids) == 5 and "m11" not in ids and answer.json()["user"] is None
    cold = client.post("/recommendations", json={"query": "animated family film", "n": 3}).json()
    assert len({i["id"] for i in cold["items"]} & {"m02", "m05", "m08", "m12", "m17", "m23"}) >= 2
    nothing = client.post("/recommendations", json={"n": 3}).json()
    assert nothing["fallback"] and len(nothing["items"]) == 3  # the cold start is named
    assert state(client) == before


def test_a_stranger_gets_the_named_cold_start_and_an_unknown_users_feedback_is_404(client):
    answer = client.get("/users/nobody-yet/recommendations", params={"n": 3}).json()
    assert len(answer["items"]) == 3 and answer["fallback"]
    assert client.get("/users/nobody-yet/feedback").status_code == 404


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}, {"x-api-key": "TEST-KEY"}])
def test_writes_without_the_right_key_get_401_and_change_nothing(client, headers):
    before = state(client)
    for method, path, body in (("POST", "/feedback", [{"user": "u1", "item": "m01", "label": "liked"}]),
                               ("POST", "/items", [{"id": "k1", "title": "Keyless"}]), ("DELETE", "/items/m01", None)):
        answer = client.request(method, path, json=body, headers=headers)
        assert answer.status_code == 401 and answer.json() == {"detail": "missing or wrong API key (header X-API-Key)"}
    assert state(client) == before


def test_reads_may_omit_the_key_but_not_send_a_wrong_one(client):
    assert client.get("/items/m01").status_code == 200
    assert client.get("/items/m01", headers=key(client)).status_code == 200
    assert client.get("/items/m01", headers={"X-API-Key": "wrong"}).status_code == 401


BAD_BODIES = [
    ("/feedback", b'[{"user": "u1", "item": "m01", "label": "liked"', "malformed JSON"),
    ("/feedback", b'[{"user": "u1", "item": "m01", "label": "rating", "rating": NaN}]', "body[0].rating: must be a finite number"),
    ("/feedback", b'[{"user": "u1", "item": "m01", "label": "liked", "timestamp": Infinity}]', "body[0].timestamp: must be a finite"),
    ("/feedback", b'[{"user": "u1", "item": "m01", "label": "rating", "rating": 7}]', "body[0].rating"),
    ("/feedback", b'[{"user": "u1", "item": "m01", "label": "loved"}]', "body[0].label"),
    ("/feedback", b'[{"user": "u1", "item": "m01", "label": "rating"}]', "needs a rating"),
    ("/feedback", b'[{"user": "", "item": "m01", "label": "liked"}]', "body[0].user"),
    ("/feedback", b'[{"user": "u1", "label": "liked"}]', "body[0].item: required"),
    ("/feedback", b'[{"user": "u1", "item": "m01", "label": "liked", "extra": 1}]', "body[0].extra: unknown field"),
    ("/feedback", b'{"user": "u1", "item": "m01", "label": "liked"}', "body: Input should be a valid list"),
    ("/feedback", b'[{"user": "u1", "item": "m01", "label": "liked"}, {"user": "u1", "item": "nope", "label": "liked"}]',
     "'nope' (body[1].item)"),
    ("/items", b'[{"id": "y1", "title": "Y", "attributes": {"score": NaN}}]', "attributes.score holds nan"),
    ("/items", b'[{"id": "y1", "title": "  "}]', "body[0].title"),
    ("/items", b'[{"id": "y1", "title": "A"}, {"id": "y1", "title": "B"}]', "appears twice"),
    ("/recommendations", b'{"history": ["m01", "nope"], "n": 3}', "'nope' (body.history[1])"),
    ("/recommendations", b'{"history": ["m01"], "n": 1000000000}', "n must be at most 100, got 1000000000"),
    ("/recommendations", b'{"history": ["m01"], "n": 0}', "body.n"),
]


@pytest.mark.parametrize(("path", "body", "message"), BAD_BODIES, ids=[m[:30] for _, _, m in BAD_BODIES])
def test_bad_input_gets_a_clear_4xx_and_nothing_stored_changes(client, path, body, message):
    before = state(client)
    answer = client.post(path, content=body, headers={**key(client), "Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["detail"]
    assert "Traceback" not in answer.text
    assert state(client) == before
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize(("path", "message"), [
    ("/users/u1/recommendations?n=1000000000", "n must be at most 100, got 1000000000"),
    ("/users/u1/recommendations?n=-1", "query.n"),
    ("/users/u1/recommendations?n=ten", "query.n"),
    ("/items/m01/similar?n=1000000000", "n must be at most 100"),
    ("/items?q=alien&n=1000000000", "n must be at most 100"),
    ("/users/u1/recommendations?query=" + "x" * 1001, "query: at most 1000 characters"),
])
def test_out_of_range_queries_get_422(client, path, message):
    answer = client.get(path)
    assert answer.status_code == 422 and message in answer.json()["detail"]


def test_oversized_bodies_get_413_before_they_are_read_and_lists_past_the_limit_422(client):
    before = state(client)
    record = b'{"user": "u1", "item": "m01", "label": "liked"},'
    big = b"[" + record * 25_000 + b'{"user": "u1", "item": "m01", "label": "liked"}]'
    answer = client.post("/feedback", content=big, headers={**key(client), "Content-Type": "application/json"})
    assert answer.status_code == 413 and "larger than the limit of 1048576 bytes" in answer.json()["detail"]

    def chunked():
        yield b"["
        for _ in range(25_000):
            yield record
        yield b'{"user": "u1", "item": "m01", "label": "liked"}]'

    streamed = client.post("/feedback", content=chunked(), headers={**key(client), "Content-Type": "application/json"})
    assert streamed.status_code == 413
    many = [{"user": "u1", "item": "m01", "label": "liked"}] * 1001
    listed = client.post("/feedback", json=many, headers=key(client))
    assert listed.status_code == 422 and "at most 1000 feedback records per request, got 1001" in listed.json()["detail"]
    assert state(client) == before and client.get("/health").status_code == 200


def test_numbers_in_answers_are_finite_json(client):
    answer = client.get("/users/u9/recommendations", params={"n": 5, "query": "space adventure"})
    assert answer.status_code == 200
    for item in answer.json()["items"]:
        assert all(v is None or math.isfinite(v) for v in item["stages"].values())


def test_cors_is_off_by_default(client):
    preflight = client.options("/items", headers={"Origin": "http://example.test",
                                                  "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in client.get("/health", headers={"Origin": "http://example.test"}).headers


def test_cors_can_be_allowed_for_named_origins(tmp_path):
    with demo_service(tmp_path, cors_origins=["http://app.test"]) as client:
        allowed = client.get("/health", headers={"Origin": "http://app.test"})
        assert allowed.headers["access-control-allow-origin"] == "http://app.test"
        other = client.get("/health", headers={"Origin": "http://other.test"})
        assert "access-control-allow-origin" not in other.headers
        preflight = client.options("/feedback", headers={"Origin": "http://app.test", "Access-Control-Request-Method": "POST",
                                                         "Access-Control-Request-Headers": "X-API-Key"})
        assert preflight.status_code == 200 and "x-api-key" in preflight.headers["access-control-allow-headers"].lower()


def test_a_private_service_wants_the_key_for_reads_too(tmp_path):
    with demo_service(tmp_path, private=True) as client:
        assert client.get("/items/m01").status_code == 401
        assert client.get("/items/m01", headers=key(client)).status_code == 200
        assert client.get("/metrics").status_code == 401
        assert client.get("/health").status_code == 200  # load balancers ask it without a key


def test_with_an_llm_weight_the_llm_ranks_in_a_worker_thread_and_its_answers_are_cached(tmp_path):
    """The stub LLM holds its answer until the test has seen /health answered: the event loop stayed free."""
    import threading

    from openai_stub import Reply, StubServer

    from promptrec.config import PipelineConfig

    release = threading.Event()

    def held(number, body):
        release.wait(30)
        return Reply()

    with StubServer(held) as stub:
        config = PipelineConfig.from_dict({"scenario": "movies", "retrieval": {"llm_weight": 0.5},
                                           "backend": {"spec": "openai:stub", "base_url": stub.url, "api_key": "x"},
                                           "cache": {"dir": str(tmp_path / "completions")}})
        with demo_service(tmp_path, config=config) as client:
            answers = []
            asking = threading.Thread(target=lambda: answers.append(
                client.get("/users/u1/recommendations", params={"n": 5, "query": "space"})))
            asking.start()
            while stub.calls == 0 and asking.is_alive():
                threading.Event().wait(0.02)
            assert stub.calls == 1 and asking.is_alive()  # the LLM call is in flight...
            assert client.get("/health").status_code == 200  # ...and the service still answers
            assert client.get("/items/m01").status_code == 200
            release.set()
            asking.join()
            answer = answers[0].json()
            assert answer["llm_asked"] is True and not answer["cached"]
            assert all(item["stages"]["llm"] is not None and item["reason"] for item in answer["items"])
            again = client.get("/users/u1/recommendations", params={"n": 5, "query": "space"}).json()
            assert again["cached"] is True and stub.calls == 1
            assert [i["id"] for i in again["items"]] == [i["id"] for i in answer["items"]]
            metrics = client.get("/metrics").text
            assert "promptrec_llm_calls_total 1.0" in metrics and "promptrec_llm_cache_hits_total 1.0" in metrics


@pytest.mark.parametrize("kind", DATABASES)
def test_two_services_on_one_database_answer_for_each_other(tmp_path, kind):
    """Several service processes behind a load balancer: what one is told, the other uses (here two apps in
    this process, each with its own pipeline and connection pool, on one database)."""
    import httpx
    from service_helpers import ThreadedServer, database_url, private_cache

    from promptrec.config import PipelineConfig
    from promptrec.service import ServiceSettings

    db = database_url(kind, tmp_path)
    with private_cache(tmp_path):
        settings = ServiceSettings(db=db, catalog="demo", api_key="k", config=PipelineConfig(scenario="movies"))
        first, second = create_app(settings), create_app(settings.model_copy(update={"catalog": None}))
        with ThreadedServer(first) as one, ThreadedServer(second) as two:
            key = {"X-API-Key": "k"}
            assert httpx.post(f"{one.url}/items", json=[{"id": "lb1", "title": "Balanced Loads"}], headers=key).status_code == 200
            assert httpx.get(f"{two.url}/items/lb1/similar", params={"n": 2}, timeout=60).status_code == 200
            top = httpx.get(f"{two.url}/users/lb-user/recommendations", params={"n": 3}, timeout=60).json()["items"][0]["id"]
            assert httpx.post(f"{one.url}/feedback", json=[{"user": "lb-user", "item": top, "label": "disliked"}],
                              headers=key).status_code == 200
            after = httpx.get(f"{two.url}/users/lb-user/recommendations", params={"n": 3}, timeout=60).json()
            assert top not in [item["id"] for item in after["items"]]
            assert httpx.delete(f"{two.url}/items/m05", headers=key).status_code == 200
            assert httpx.get(f"{one.url}/items/m05").json()["hidden"] is True
            answer = httpx.get(f"{one.url}/users/lb-user/recommendations", params={"n": 24}, timeout=60).json()
            assert "m05" not in [item["id"] for item in answer["items"]]
