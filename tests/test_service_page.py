"""The web page at / (promptrec.service.page): served by a real ``promptrec serve --catalog demo`` on
127.0.0.1, and used in Debian's headless chromium through Playwright, as a person would: search, pick a
history, get recommendations with reasons and stage scores, dislike the first one and see it go.

Screenshots (desktop and a 390 px phone) go to ``$PROMPTREC_SCREENSHOTS`` when it is set (to look at
them), else to the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest
from demo_process import demo_process

from promptrec.service import page
from promptrec.service.core import demo_catalog_path

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install chromium)")
DEMO_TITLES = [json.loads(line)["title"] for line in demo_catalog_path().read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def service():
    return demo_process()  # shared with test_service_gorse.py; the page writes nothing to it


def fetch(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def test_the_page_and_its_two_files_are_served_and_nothing_else(service):
    status, kind, body = fetch(f"{service.url}/")
    assert (status, kind) == (200, "text/html; charset=utf-8")
    html = body.decode()
    assert 'src="static/app.js"' in html and 'href="static/app.css"' in html
    assert "http://" not in html and "https://" not in html  # no CDN: it works on a server without internet
    for name, media in (("app.js", "text/javascript"), ("app.css", "text/css")):
        status, kind, body = fetch(f"{service.url}/static/{name}")
        assert status == 200 and kind.startswith(media) and body == page.asset(name)
        assert b"https://" not in body and b"http://" not in body.replace(b"http://www.w3.org/2000/svg", b"")
    for name in ("index.html", "nope.js", "..%2Fpage.py", "..%2F..%2Fdata.py"):
        assert fetch(f"{service.url}/static/{name}")[0] == 404
    with pytest.raises(KeyError):
        page.asset("../page.py")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("PROMPTREC_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def rec_ids(tab) -> list[str]:
    return tab.eval_on_selector_all("#recs [data-testid=rec]", "cards => cards.map(c => c.dataset.id)")


def answer(tab) -> int:
    return int(tab.get_attribute("#recs", "data-answer") or 0)


def wait_for_new_answer(tab, before: int) -> None:
    tab.wait_for_function(f"Number(document.querySelector('#recs').dataset.answer || 0) > {before}"
                          " && !document.querySelector('#status').textContent", timeout=30_000)


def add_from_search(tab, text: str, title: str) -> None:
    tab.fill("[data-testid=search]", text)
    tab.wait_for_function(f"document.querySelector('#results').dataset.query === {json.dumps(text)}", timeout=10_000)
    row = tab.locator("#results [data-testid=result]", has_text=title).first
    before = answer(tab)
    row.locator("[data-testid=add]").click()
    wait_for_new_answer(tab, before)


@needs_chromium
def test_search_pick_recommend_and_dislike_in_headless_chromium(service, browser, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    elsewhere: list[str] = []  # every request the page makes goes to the service, none to the internet
    tab.on("request", lambda request: None if request.url.startswith(service.url) else elsewhere.append(request.url))
    tab.goto(f"{service.url}/")

    # after load the DOM shows catalog titles: the catalog listing and the cold-start recommendations
    tab.wait_for_selector("#results [data-testid=result]")
    wait_for_new_answer(tab, 0)
    text = tab.inner_text("body")
    assert sum(title in text for title in DEMO_TITLES) >= 5
    assert tab.is_visible("#fallback") and "Nothing to go on yet" in tab.inner_text("#fallback")  # cold start, said

    add_from_search(tab, "alien", "Alien")
    add_from_search(tab, "matrix", "The Matrix")
    history = tab.inner_text("[data-testid=history]")
    assert "Alien" in history and "The Matrix" in history
    assert not tab.is_visible("#fallback")

    recommended = rec_ids(tab)
    assert len(recommended) == 10 and not {"m01", "m03"} & set(recommended)  # the history is not recommended
    cards = tab.locator("#recs [data-testid=rec]")
    for index in range(3):
        card = cards.nth(index)
        assert card.locator(".reason").inner_text().strip()  # each carries a reason
        assert "retrieval" in card.locator(".scores").inner_text()  # and its stage scores
    tab.screenshot(path=str(screenshots(tmp_path) / "page-desktop.png"), full_page=True)

    first = recommended[0]
    before = answer(tab)
    cards.first.locator("[data-testid=dislike]").click()
    wait_for_new_answer(tab, before)
    after = rec_ids(tab)
    assert first not in after and len(after) == 10
    assert "Disliked" in tab.inner_text("[data-testid=feedback]")

    # a like moves the list too, and the page never threw
    liked = after[0]
    before = answer(tab)
    cards.first.locator("[data-testid=like]").click()
    wait_for_new_answer(tab, before)
    assert liked not in rec_ids(tab)
    assert errors == [] and elsewhere == []
    context.close()


@needs_chromium
def test_the_page_fits_a_phone(service, browser, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    tab = context.new_page()
    tab.goto(f"{service.url}/")
    tab.wait_for_selector("#results [data-testid=result]")
    wait_for_new_answer(tab, 0)
    add_from_search(tab, "toy", "Toy Story")
    assert tab.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sticks out sideways
    button = tab.locator("#recs [data-testid=dislike]").first.bounding_box()
    assert button["height"] >= 36 and button["x"] + button["width"] <= 390  # a thumb can reach and hit it
    tab.screenshot(path=str(screenshots(tmp_path) / "page-phone.png"), full_page=True)
    context.close()


@needs_chromium
def test_a_refused_request_is_shown_not_thrown(service, browser):
    """A wrong key (saved in the page's settings) is refused with 401; the page says what to do."""
    context = browser.new_context()
    tab = context.new_page()
    tab.add_init_script("localStorage.setItem('promptrec.page.v1', JSON.stringify({key: 'wrong'}))")
    tab.goto(f"{service.url}/")
    tab.wait_for_selector("#status.error")
    assert "API key" in tab.inner_text("#status")
    context.close()


@needs_chromium
def test_picks_saved_from_another_catalog_are_named_and_start_over_clears_them(service, browser):
    context = browser.new_context()
    tab = context.new_page()
    saved = {"history": [{"id": "zz-gone", "title": "Gone", "meta": ""}], "feedback": []}
    tab.add_init_script(f"localStorage.setItem('promptrec.page.v1', JSON.stringify({json.dumps(saved)}))")
    tab.goto(f"{service.url}/")
    tab.wait_for_selector("#status.error")
    message = tab.inner_text("#status")
    assert "'zz-gone'" in message and "not in the catalog" in message and "Start over" in message
    tab.click(".settings summary")
    tab.click("#reset")
    wait_for_new_answer(tab, 0)
    assert len(rec_ids(tab)) == 10 and "Nothing yet" in tab.inner_text("[data-testid=history]")
    context.close()
