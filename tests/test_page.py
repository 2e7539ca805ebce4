"""The page `triage serve` serves at `/` (issue 19, part 4), in a real browser: Debian's chromium
driven by Playwright, against a real `triage serve` answering with the real openai SDK from the
scripted model. One browser for the module; each test has its own page (and so its own
sessionStorage, where the token is kept)."""

from __future__ import annotations


import re
import threading
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from browser import chromium, require_chromium
from scripted_server import ScriptedServer, answer, tools
from serve_helpers import TEAM_TOKEN as TOKEN
from serve_helpers import environment, server_in_thread, start_serve
from triage_cli.engine.events import TriageRecord
from triage_cli.store.agents import AgentStore
from triage_cli.store.tickets import TicketStore

WAIT_MS = 30_000  # generous: a loaded 2-core machine
expect.set_options(timeout=WAIT_MS)
LOST = "The connection to the triage server was lost mid-answer; the reply so far is kept above."


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with chromium() as launched:
        yield launched


@pytest.fixture
def open_page(browser: Browser) -> Iterator:
    pages: list[Page] = []

    def open_(url: str, width: int = 1100, height: int = 800, token: str = TOKEN) -> Page:
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        pages.append(page)
        page.goto(url + "/")
        # The token is asked for once, on the first call that needs it, and kept for the tab.
        page.locator("#token").fill(token)
        page.locator("#token-form button").click()
        expect(page.locator("#tickets li").first).to_be_visible()
        return page

    yield open_
    for page in pages:
        page.context.close()


def ask(page: Page, message: str, order: str = "") -> None:
    page.locator("#message").fill(message)
    page.locator("#order").fill(order)
    page.locator("#send").click()


def test_the_page_streams_an_answer_with_its_lookup_and_record_and_claims_releases_and_closes_its_ticket(open_page, team, team_model):
    team_model.add(tools(("get_order_status", {"order_id": "A1002"})),
              answer("Your parcel is **delayed** by weather.\n\n- carrier: DHL\n- new date: Friday",
                     order_id="A1002", issue="delayed_delivery", status="delayed", next_step="escalate",
                     summary="late parcel, customer upset"))
    page = open_page(team.url)
    page.evaluate("""() => { window.seen = []; new MutationObserver(() => {
        for (const s of document.querySelectorAll('.lookups .spinner')) window.seen.push(s.nextSibling.textContent);
    }).observe(document.body, {subtree: true, childList: true}); }""")
    ask(page, "Where is my parcel?", order="A1002")
    card = page.locator(".record")
    expect(card).to_contain_text("late parcel, customer upset")
    expect(card).to_contain_text(re.compile(r"Ticket\s*#\d+ \(open\)"))
    turn = page.locator(".turn").last
    expect(turn.locator(".question")).to_have_text("Where is my parcel?")
    expect(turn.locator(".reply strong").first).to_have_text("delayed")  # Markdown, rendered
    expect(turn.locator(".reply li")).to_have_count(2)
    expect(turn.locator(".lookups li")).to_contain_text('Looked up get_order_status(order_id="A1002")')
    expect(turn.locator(".lookups .ok")).to_have_count(1)  # the spinner became a tick
    # While it ran: "Looking up" with a spinner.
    assert 'Looking up get_order_status(order_id="A1002")' in page.evaluate("window.seen")
    expect(turn.locator(".usage")).to_contain_text("2 model calls")
    # The token was asked for once and is kept for the tab: the answer and the queue needed no more.
    expect(page.locator("#token-dialog")).not_to_be_visible()
    assert page.evaluate("sessionStorage.getItem('triage.token')") == TOKEN

    ticket = re.search(r"#(\d+)", card.locator("dd").last.inner_text())[1]
    row = page.locator(f'#tickets li[data-ticket="{ticket}"]')
    expect(row).to_contain_text("late parcel, customer upset")
    page.fill("#agent", "ana")
    row.get_by_role("button", name="Claim").click()
    expect(page.locator("#queue-message")).to_have_text(f"Claimed #{ticket}.")
    expect(row).to_contain_text("held by ana")
    row.get_by_role("button", name="Release").click()
    expect(row).to_contain_text("unclaimed")
    row.get_by_role("button", name="Claim").click()
    expect(row).to_contain_text("held by ana")
    row.get_by_role("button", name="Close").click()
    page.locator("#close-confirm").click()  # the note may be left empty
    expect(page.locator("#queue-message")).to_have_text(f"Closed #{ticket}.")
    expect(row).to_have_count(0)


def test_markup_in_a_reply_executes_nothing(open_page, team, team_model):
    hostile = ('Look: <img src=x onerror="window.pwned=1"> <script>window.pwned=2</script> '
               '[track it](javascript:window.pwned=3) <a href="javascript:window.pwned=4">here</a> '
               '<svg onload="window.pwned=5"></svg> <iframe src="javascript:window.pwned=6"></iframe> '
               '<form action="javascript:window.pwned=8"><button>ok</button></form> done.')
    team_model.add(answer(hostile, order_id="A1002", issue="where_is_my_order", status="in_transit", summary="ok"))
    page = open_page(team.url)
    ask(page, '<img src=x onerror="window.pwned=7"> where is it?')
    reply = page.locator(".turn .reply")
    expect(reply).to_contain_text("done.")
    expect(page.locator(".record")).to_be_visible()
    for name in ("track it", "here"):
        link = reply.get_by_text(name)
        if link.count():
            link.first.click()
    expect(page.locator(".turn .question")).to_contain_text('<img src=x onerror="window.pwned=7">')  # as text
    assert page.evaluate("window.pwned") is None
    assert page.evaluate("""() => [...document.querySelectorAll('#turns *')].flatMap(e =>
        [...e.attributes].filter(a => a.name.startsWith('on') || /javascript:/i.test(a.value)).map(a => a.name))""") == []
    assert reply.locator("script, iframe, form").count() == 0
    # And were one to slip through: the page runs only its own scripts and talks only to its server.
    policy = page.request.get(team.url + "/").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "unsafe-inline" not in policy


def test_the_page_is_usable_at_a_phones_width(open_page, team, team_model):
    team_model.add(answer("A long one: " + "x" * 300 + "\n\n| a | b | c |\n|---|---|---|\n| " + "wide " * 40 + "| 2 | 3 |\n\n"
                     "```\n" + "code " * 60 + "\n```", order_id="A1002", issue="where_is_my_order",
                     status="in_transit", summary="y" * 200))
    page = open_page(team.url, width=375, height=740)
    ask(page, "Where is A1002? " + "z" * 200)
    expect(page.locator(".record")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    for target in ("#message", "#order", "#send", "#claim-next"):
        box = page.locator(target).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, target


def test_a_server_stopped_mid_answer_leaves_one_message_and_the_partial_reply(open_page, tmp_path):
    with ScriptedServer() as model, \
            start_serve(environment(tmp_path / "server-home", tmp_path / "server-config.toml", model.base_url,
                                    TRIAGE_SERVER_TOKEN=TOKEN), tmp_path / "server.log") as server:
        model.add(answer("The parcel left the depot this morning and is now with the courier for delivery.",
                         order_id="A1002", issue="where_is_my_order", status="in_transit", summary="on its way",
                         stall_after=14, stall_seconds=15))
        page = open_page(server.url)
        ask(page, "Where is A1002?")
        reply = page.locator(".turn .reply")
        expect(reply).to_contain_text("The parcel left")
        server.kill()
        expect(page.locator(".turn .error")).to_have_text(LOST)
        expect(page.locator(".turn .error")).to_have_count(1)
        expect(reply).to_contain_text("The parcel left")
        expect(page.locator("#send")).to_be_enabled()  # the box works again


def test_a_reply_keeps_no_styles_and_no_images_from_elsewhere(open_page, team, team_model):
    styled = ('<p style="color:red">x</p>\n\n<style>.reply { display: none }</style>\n\n'
              '![t](http://127.0.0.1:9/x.png) <img src="https://evil.example/a.png" alt="e"> '
              '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="inline"> end of reply.')
    team_model.add(answer(styled, order_id="A1002", issue="where_is_my_order", status="in_transit", summary="ok"))
    page = open_page(team.url)
    ask(page, "Where is A1002?")
    reply = page.locator(".turn .reply")
    expect(reply).to_contain_text("end of reply.")
    expect(page.locator(".record")).to_be_visible()
    expect(reply.locator("p").first).to_have_text("x")
    assert reply.locator("[style], style").count() == 0
    assert page.locator("style").count() == 0
    sources = reply.locator("img").evaluate_all("imgs => imgs.map(i => i.getAttribute('src'))")
    assert [s for s in sources if s is not None and not s.startswith("data:")] == [], sources
    assert any(s and s.startswith("data:image/gif") for s in sources), sources  # data: images stay


BLOCKS = [
    "# Heading blk01 of the reply",
    "Paragraph blk02 with **bold**, `code` and a [link](https://example.com/a).",
    "- item blk03 one\n- item two\n- item three",
    "```python\ndef blk04():\n\n    return 1\n```",
    "| order blk05 | state |\n|---|---|\n| A1002 | late |\n| A1003 | fine |",
    "1. first blk06\n\n2. second, a loose list\n\n   its second paragraph",
    "Closing paragraph blk07\nwith a second line.",
    "## Heading blk08",
    "Last words blk09.",
    "**Next step:** answer.",  # named by the reply itself, so the server adds no closing line
]


def test_finished_blocks_are_parsed_once_and_the_reply_reads_as_if_parsed_whole(open_page, team, team_model):
    text = "\n\n".join(BLOCKS)
    team_model.add(answer(text, order_id="A1002", issue="where_is_my_order", status="in_transit", summary="ok"))
    page = open_page(team.url)
    # Every Markdown source the page parses, recorded by a marked hook.
    page.evaluate("() => { window.parsed = []; marked.use({ hooks: { preprocess: (s) => (window.parsed.push(s), s) } }); }")
    ask(page, "Where is A1002?")
    reply = page.locator(".turn .reply")
    expect(reply).to_contain_text("Last words blk09.")
    expect(page.locator(".record")).to_be_visible()  # the record comes before `done`, which parses the last block:
    page.wait_for_function("() => window.parsed.some((source) => source.includes('Next step'))")
    parsed = page.evaluate("window.parsed")
    markers = [re.search(r"blk\d\d|Next step", block)[0] for block in BLOCKS]
    for source in parsed:  # never a finished block again with the text after it
        assert sum(marker in source for marker in markers) <= 1, source
    for block in BLOCKS:  # each block, once whole, is parsed exactly once
        assert sum(block in source for source in parsed) == 1, (block, parsed)
    # Drawn block by block, it reads as the whole text parsed at once.
    drawn, whole = page.evaluate("""(text) => {
        const squeeze = (html) => html.replace(/>\\s+</g, '><').trim();
        const whole = document.createElement('div');
        whole.append(DOMPurify.sanitize(marked.parse(text, { gfm: true }), { RETURN_DOM_FRAGMENT: true }));
        return [squeeze(document.querySelector('.turn .reply').innerHTML), squeeze(whole.innerHTML)];
    }""", text)
    assert drawn == whole
    assert page.locator(".turn .reply table td").count() == 4 and page.locator(".turn .reply ol > li").count() == 2


def test_a_waiting_line_shows_while_the_model_is_silent_and_again_after_its_lookups(open_page, team, team_model):
    first, second = threading.Event(), threading.Event()
    quiet = {"stall_after": 0, "stall_seconds": WAIT_MS / 1000}  # silent from the start until the event is set
    team_model.add(tools(("get_order_status", {"order_id": "A1002"}), stall_until=first, **quiet),
                   answer("It is **on its way**.", order_id="A1002", issue="where_is_my_order", status="in_transit",
                          summary="on its way", stall_until=second, **quiet))
    page = open_page(team.url)
    try:
        ask(page, "Where is A1002?")
        turn = page.locator(".turn").last
        waiting = turn.locator(".waiting")
        expect(waiting).to_have_text(re.compile(r"^Waiting for the model… \d+ s$"))
        expect(waiting).to_have_text(re.compile(r"… [1-9]\d* s$"))  # it counts the seconds
        first.set()  # the model asks for a lookup, and goes quiet again on the next call
        expect(turn.locator(".lookups li")).to_contain_text('Looked up get_order_status(order_id="A1002")')
        expect(turn.locator(".lookups .ok")).to_have_count(1)
        expect(waiting).to_be_visible()
        expect(turn.locator(".reply")).to_be_empty()
        second.set()
        expect(turn.locator(".reply strong").first).to_have_text("on its way")
        expect(waiting).to_have_count(0)
        expect(turn.locator(".usage")).to_be_visible()
        expect(waiting).to_have_count(0)
    finally:
        first.set()
        second.set()


def test_closing_a_ticket_asks_for_a_note_and_cancel_leaves_it_open(open_page, team, team_model):
    team_model.add(answer("I have passed this on to the team.", order_id="A1002", issue="damaged_item",
                          status="delivered", next_step="escalate", summary="vase arrived broken"))
    page = open_page(team.url)
    posts: list = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" and "/v1/tickets/" in r.url else None)
    ask(page, "My vase arrived broken", order="A1002")
    card = page.locator(".record")
    expect(card).to_contain_text(re.compile(r"Ticket\s*#\d+ \(open\)"))
    ticket = re.search(r"#(\d+)", card.locator("dd").last.inner_text())[1]
    row = page.locator(f'#tickets li[data-ticket="{ticket}"]')
    dialog = page.locator("#close-dialog")

    def stored() -> dict:
        return page.request.get(f"{team.url}/v1/tickets/{ticket}", headers={"Authorization": f"Bearer {TOKEN}"}).json()

    row.get_by_role("button", name="Close").click()
    expect(dialog).to_be_visible()
    page.fill("#close-note", "not meant to be kept")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(row).to_be_visible()
    assert stored()["status"] == "open" and posts == []

    row.get_by_role("button", name="Close").click()
    expect(page.locator("#close-note")).to_have_value("")  # a fresh note each time
    page.fill("#close-note", "Refund sent; the customer is happy.")
    dialog.get_by_role("button", name="Close ticket").click()
    expect(page.locator("#queue-message")).to_have_text(f"Closed #{ticket}.")
    expect(row).to_have_count(0)
    closed = stored()
    assert closed["status"] == "closed" and closed["note"] == "Refund sent; the customer is happy."
    [post] = posts
    assert post.headers["content-type"] == "application/json"
    assert post.post_data_json == {"note": "Refund sent; the customer is happy.", "agent": None}


def test_an_agent_signed_in_by_token_sees_release_only_on_their_tickets_and_each_tickets_history(open_page, tmp_path):
    home = tmp_path / "home"
    agents = AgentStore(home)
    _, ana = agents.add("ana")
    agents.add("ben")
    store = TicketStore(home)
    record = TriageRecord(order_id="A1002", issue="late", status="delayed", next_step="escalate", summary="late")
    bens, free = (store.open_ticket(record, question="q", reply="r").id for _ in range(2))
    store.claim("ben", bens)
    with server_in_thread(environment(home, tmp_path / "config.toml", None)) as url:
        page = open_page(url, token=ana)
        expect(page.locator("#who")).to_have_text("Signed in as ana")
        expect(page.locator("#agent")).to_be_hidden()  # the token says who acts: no name to type
        held = page.locator(f'#tickets li[data-ticket="{bens}"]')
        expect(held).to_contain_text("held by ben")
        expect(held.get_by_role("button")).to_have_count(0)  # ben's: no Release, Claim or Close for ana
        row = page.locator(f'#tickets li[data-ticket="{free}"]')
        row.get_by_role("button", name="Claim").click()
        expect(row).to_contain_text("held by ana")
        expect(row.get_by_role("button", name="Release")).to_be_visible()
        row.locator(".history summary").click()
        expect(row.locator(".history li")).to_have_count(2)
        expect(row.locator(".history li").last).to_contain_text("claimed by ana")
        expect(held.locator(".history summary")).to_be_visible()
    assert store.get(free).assignee == "ana"


def test_the_page_shows_the_weeks_figures_and_they_follow_an_answer(open_page, team, team_model):
    before = httpx.get(f"{team.url}/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).json()
    team_model.add(answer("Late, sorry.", order_id="A1002", issue="late", status="delayed", next_step="answer",
                          summary="late"))
    page = open_page(team.url)
    figures = page.locator("#figures")
    expect(figures).to_contain_text(f"{before['turns']} in {before['conversations']} conversations")
    ask(page, "Where is it? (stats)", order="A1002")
    expect(page.locator(".record")).to_contain_text("late")
    expect(figures).to_contain_text(f"{before['turns'] + 1} in ")  # counted again after the answer
    expect(page.locator("#days li").last).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d"))
    assert page.locator("#days .bar").last.evaluate("bar => bar.getBoundingClientRect().width") > 0
