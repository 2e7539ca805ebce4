"""A page on another origin, in a real browser (Debian's chromium), tries to change the queue of a
`triage serve` on this machine: a no-cors fetch with no body, one with a text body, and a plain
HTML form. None of them can: each is a "simple" request, which cannot say `Content-Type:
application/json` (415), and each carries an Origin that is not the server's (403)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from browser import chromium, require_chromium
from serve_helpers import WAIT, environment, server_in_thread
from triage_cli.engine.events import TriageRecord
from triage_cli.store.tickets import TicketStore

ATTACK = """<!doctype html><html><body>
<form id="form" method="POST" action="{target}/v1/tickets/{form}/close"><input name="note" value="x"></form>
<script>
(async () => {{
  await fetch("{target}/v1/tickets/{bare}/close", {{method: "POST", mode: "no-cors"}}).catch(() => null);
  await fetch("{target}/v1/tickets/{text}/close", {{method: "POST", mode: "no-cors",
      headers: {{"Content-Type": "text/plain"}}, body: "{{}}"}}).catch(() => null);
  document.title = "fetched";
  document.getElementById("form").submit();
}})();
</script></body></html>"""


@pytest.fixture
def browser_page() -> Iterator:
    require_chromium()
    with chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(WAIT * 1000)
        yield page


def attacker_site(html: str) -> tuple[ThreadingHTTPServer, str]:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    site = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    return site, f"http://127.0.0.1:{site.server_address[1]}"


def test_a_page_elsewhere_cannot_close_tickets_with_simple_requests(browser_page, tmp_path: Path):
    home = tmp_path / "home"
    store = TicketStore(home)
    record = TriageRecord(order_id="A1002", issue="late", status="delayed", next_step="escalate", summary="late")
    bare, text, form = (store.open_ticket(record, question="q", reply="r").id for _ in range(3))
    with server_in_thread(environment(home, tmp_path / "config.toml", None)) as target:
        site, url = attacker_site(ATTACK.format(target=target, bare=bare, text=text, form=form))
        try:
            browser_page.goto(url + "/")
            browser_page.wait_for_url(f"{target}/**")  # the form was sent: the browser left for the server
        finally:
            site.shutdown()
            site.server_close()
    assert [store.get(ticket).status for ticket in (bare, text, form)] == ["open", "open", "open"]
