"""Gorse's API under /api/ (promptrec.service.gorse), driven by pygorse, the real Gorse SDK from PyPI,
unmodified, against a running ``promptrec serve --catalog demo`` on 127.0.0.1 (the field mapping on its
own: tests/test_service_gorse_mapping.py)."""

from __future__ import annotations

import json
import urllib.request
from types import SimpleNamespace

import httpx
import pytest
from click.testing import CliRunner
from demo_process import demo_process
from gorse import Gorse, GorseException

from promptrec.cli import main
from promptrec.service.core import demo_catalog_path
from promptrec.service.gorse import DEFAULT_FEEDBACK_TYPES, feedback_types


def test_the_settings_extend_and_override_the_feedback_types():
    settings = SimpleNamespace(gorse_feedback={"purchase": "liked", "read": "skipped"})
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(settings=settings)))
    assert feedback_types(request) == {**DEFAULT_FEEDBACK_TYPES, "purchase": "liked", "read": "skipped"}
    request.app.state.settings = SimpleNamespace(gorse_feedback={})
    assert feedback_types(request) == DEFAULT_FEEDBACK_TYPES


DEMO = [json.loads(line) for line in demo_catalog_path().read_text().splitlines() if line.strip()]
DEMO_IDS = [item["id"] for item in DEMO]
ROMANCE = {item["id"] for item in DEMO if "Romance" in item["genres"]}

# -------------------------------------------------------------------------------- pygorse, end to end

@pytest.fixture(scope="module")
def service():
    return demo_process()  # started with --gorse-feedback purchase=liked and skip=skipped (demo_process.ARGS)


@pytest.fixture(scope="module")
def client(service):
    return Gorse(service.url, service.api_key, timeout=60)


def status_of(call) -> int:
    with pytest.raises(GorseException) as caught:
        call()
    return caught.value.status_code


def test_items_insert_get_patch_and_page(client):
    item = {"ItemId": "g:odyssey", "IsHidden": False, "Categories": ["Sci-Fi"], "Labels": {"year": 2031},
            "Timestamp": "2022-02-24T00:00:00Z", "Comment": "Odyssey Two Thousand"}
    assert client.insert_item(item) == {"RowAffected": 1}
    assert client.get_item("g:odyssey") == item
    assert client.update_item("g:odyssey", comment="Odyssey 2031", labels={"year": 2031, "runtime": 140}) == {
        "RowAffected": 1}
    changed = client.get_item("g:odyssey")
    assert (changed["Comment"], changed["Labels"], changed["Categories"]) == (
        "Odyssey 2031", {"year": 2031, "runtime": 140}, ["Sci-Fi"])
    # the catalog in pages: the demo's 24 items and this one, each once, in the order they were added
    seen, cursor = [], ""
    while True:
        page, cursor = client.get_items(7, cursor)
        seen += [i["ItemId"] for i in page]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) and seen[0] == "m01" and {*DEMO_IDS, "g:odyssey"} <= set(seen)
    assert seen.index("g:odyssey") > max(seen.index(i) for i in DEMO_IDS)
    assert [i["Comment"] for i in client.search_items("alien")] == ["Alien", "Aliens"]
    assert status_of(lambda: client.get_item("no-such-item")) == 404
    assert status_of(lambda: client.update_item("no-such-item", is_hidden=True)) == 404


def test_feedback_recommendations_and_neighbours(client):
    stamp = "2022-03-01T10:00:00Z"
    sent = [{"FeedbackType": "star", "UserId": "bob", "ItemId": "m03", "Timestamp": stamp},
            {"FeedbackType": "like", "UserId": "bob", "ItemId": "m11", "Timestamp": stamp},
            {"FeedbackType": "read", "UserId": "bob", "ItemId": "m04", "Timestamp": stamp}]
    assert client.insert_feedbacks(sent) == {"RowAffected": 3}
    assert client.insert_feedback("dislike", "bob", "m21", stamp) == {"RowAffected": 1}
    starred = client.list_feedbacks("star", "bob")
    assert {f["ItemId"] for f in starred} == {"m03", "m11"} and starred[0]["Timestamp"] == stamp
    assert [f["ItemId"] for f in client.list_feedbacks("dislike", "bob")] == ["m21"]

    recommended = client.get_recommend("bob", n=5)
    ids = [s.id for s in recommended]
    assert len(ids) == 5 and not {"m03", "m11", "m04", "m21"} & set(ids)  # seen and disliked stay out
    assert all(isinstance(s.score, float) for s in recommended)
    assert [s.score for s in recommended] == sorted((s.score for s in recommended), reverse=True)
    assert [s.id for s in client.get_recommend("bob", n=3, offset=2)] == ids[2:5]
    # a category keeps the items whose Categories have it (the demo's genres)
    for scored in client.get_recommend("bob", category="Sci-Fi", n=3):
        assert "Sci-Fi" in client.get_item(scored.id)["Categories"]

    neighbours = client.get_neighbors("m03", n=4)
    assert len(neighbours) == 4 and "m03" not in [s["Id"] for s in neighbours]
    assert neighbours[0]["Id"] == "m11"  # Aliens is the nearest thing to Alien
    assert status_of(lambda: client.get_neighbors("no-such-item")) == 404

    session = client.session_recommend([{"FeedbackType": "like", "UserId": "", "ItemId": "m05", "Timestamp": ""}], n=3)
    assert len(session) == 3 and "m05" not in [s["Id"] for s in session]
    assert all(set(s) == {"Id", "Score"} for s in session)
    assert status_of(lambda: client.insert_feedback("star", "bob", "no-such-item", stamp)) == 404
    assert status_of(lambda: client.insert_feedback("wishlist", "bob", "m01", stamp)) == 400


def test_feedback_types_come_from_the_command_line(client):
    """--gorse-feedback purchase=liked: a purchase is a like (the item joins the history, so it is not
    recommended again); a type lists the records of its label, so star, like and purchase list the same."""
    first = next(s.id for s in client.get_recommend("frank", n=3) if s.id != "m05")
    client.insert_feedback("star", "frank", "m05", "")
    assert client.insert_feedback("purchase", "frank", first, "") == {"RowAffected": 1}
    assert first not in [s.id for s in client.get_recommend("frank", n=10)]
    for kind in ("purchase", "like", "star"):
        listed = client.list_feedbacks(kind, "frank")
        assert [f["ItemId"] for f in listed] == ["m05", first] and {f["FeedbackType"] for f in listed} == {kind}
    assert client.list_feedbacks("skip", "frank") == []


def test_a_bad_feedback_type_setting_is_one_usage_line(tmp_path):
    for pair, message in (("purchase=loved", "--gorse-feedback: 'purchase=loved': a FeedbackType (a name) maps to one of"),
                          ("purchase", "--gorse-feedback: 'purchase' is not TYPE=LABEL")):
        result = CliRunner().invoke(main, ["serve", "--catalog", "demo", "--db", str(tmp_path / "s.sqlite3"),
                                           "--gorse-feedback", pair])
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_a_category_is_retrieved_within_not_cut_from_the_top(client):
    """Twenty new space films crowd the top of a Sci-Fi fan's list; the three Romance films of the demo still
    come back for category=Romance, since the pipeline is asked without the items outside the category."""
    for number in range(20):
        client.insert_item({"ItemId": f"g:ship-{number}", "Categories": ["Sci-Fi"], "Labels": {"genres": ["Sci-Fi"]},
                            "Comment": f"Starship Odyssey {number}: a space adventure among alien worlds"})
    client.insert_feedbacks([{"FeedbackType": "star", "UserId": "gina", "ItemId": i, "Timestamp": ""}
                             for i in ("m01", "m03", "m04")])
    top = [s.id for s in client.get_recommend("gina", n=20)]
    assert not ROMANCE & set(top)  # cutting the category from the top 20 would find none
    romance = client.get_recommend("gina", category="Romance", n=5)
    assert {s.id for s in romance} == ROMANCE
    liked = [{"FeedbackType": "like", "UserId": "", "ItemId": i, "Timestamp": ""} for i in ("m01", "m03", "m04")]
    session = httpx.post(f"{client.entry_point}/api/session/recommend/Romance", params={"n": 5}, json=liked,
                         timeout=60).json()  # the same for a session (pygorse's session_recommend has no category)
    assert sorted(s["Id"] for s in session) == sorted(s.id for s in romance)


def test_a_hidden_item_is_never_recommended_again(client):
    client.insert_feedback("star", "carol", "m02", "")
    first = client.get_recommend("carol", n=5)[0].id
    assert client.update_item(first, is_hidden=True) == {"RowAffected": 1}
    assert client.get_item(first)["IsHidden"] is True
    assert first not in [s.id for s in client.get_recommend("carol", n=10)]
    assert first not in [s["Id"] for s in client.get_neighbors("m01", n=10)]
    second = client.get_recommend("carol", n=5)[0].id
    assert client.delete_item(second) == {"RowAffected": 1}
    assert second not in [s.id for s in client.get_recommend("carol", n=10)]
    assert client.update_item(first, is_hidden=False) == {"RowAffected": 1}
    assert first in [s.id for s in client.get_recommend("carol", n=10)]


def test_users_insert_get_and_delete(client):
    assert client.insert_user({"UserId": "dave", "Labels": {"age": 24}, "Comment": "my user"}) == {"RowAffected": 1}
    assert client.get_user("dave") == {"UserId": "dave", "Labels": {"age": 24}, "Subscribe": [], "Comment": "my user"}
    client.insert_feedback("star", "dave", "m01", "")
    assert [f["ItemId"] for f in client.list_feedbacks("star", "dave")] == ["m01"]
    assert client.delete_user("dave") == {"RowAffected": 1}
    assert status_of(lambda: client.get_user("dave")) == 404
    assert status_of(lambda: client.list_feedbacks("star", "dave")) == 404
    assert status_of(lambda: client.delete_user("dave")) == 404


def test_keys_and_status_codes(service):
    wrong = Gorse(service.url, "wrong-key")
    assert status_of(lambda: wrong.insert_item({"ItemId": "z", "Comment": "Z"})) == 401
    assert status_of(lambda: wrong.get_recommend("bob")) == 401  # a wrong key is refused on reads too
    assert status_of(lambda: Gorse(service.url, "").insert_feedback("star", "bob", "m01", "")) == 401
    with urllib.request.urlopen(f"{service.url}/api/recommend/bob?n=2") as response:  # a read without a key
        assert response.status == 200 and len(json.loads(response.read())) == 2  # plain ids without X-API-Version
    with urllib.request.urlopen(f"{service.url}/api/health/ready") as response:
        assert json.loads(response.read())["Ready"] is True


def test_bad_input_is_a_clear_4xx_and_changes_nothing(service):
    headers = {"X-API-Key": service.api_key, "Content-Type": "application/json"}
    with httpx.Client(base_url=service.url, headers=headers, timeout=30) as http:
        before = http.get("/api/user/erin/feedback/star")
        cases = [
            http.post("/api/feedback", content=b"[{not json"),
            http.post("/api/feedback", content=b'[{"FeedbackType": "star", "UserId": "erin", "ItemId": "m01",'
                                                b' "Timestamp": "yesterday"}]'),
            http.post("/api/feedback", json=[{"FeedbackType": "star", "UserId": "erin", "ItemId": "m01"},
                                             {"FeedbackType": "star", "UserId": "erin", "ItemId": "nope"}]),
            http.post("/api/item", content=b'{"ItemId": "bad", "Comment": "Bad", "Labels": {"score": NaN}}'),
            http.get("/api/recommend/erin", params={"n": 10**9}),
            http.get("/api/items", params={"cursor": "not-a-cursor"}),
        ]
        for response in cases:
            assert 400 <= response.status_code < 500 and response.json()["detail"], response.text
        assert [r.status_code for r in cases][1:3] == [400, 404]
        assert "[0].Timestamp: 'yesterday' is not a date" in cases[1].json()["detail"]
        assert http.get("/api/item/bad").status_code == 404  # nothing was stored
        assert http.get("/api/user/erin/feedback/star").status_code == before.status_code == 404
        assert http.get("/health").status_code == 200
