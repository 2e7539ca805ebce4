"""Order ids (issue 12, items 1 and 2): the order the agent names is always looked up, an id-shaped
word the store does not know (a product code, a room number) does not turn an answerable question
into "order not found" and a ticket, and the shape of an id is a setting (order_id_pattern)."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from scripted_server import answer, tools
from triage_cli.config import load_settings
from triage_cli.session.build import build_engine
from triage_cli.engine.conversation import Conversation, find_order_ids, order_flag, parse_order_id
from triage_cli.engine.events import TextDelta, ToolCallsPlanned, TriageRecord
from triage_cli.session.journal import Journal
from triage_cli.session.turn import run_turn
from triage_cli.engine.offline import OfflineEngine
from triage_cli.engine.record import assess, settle
from triage_cli.errors import ConfigError, UsageError
from triage_cli.order_ids import compile_order_id_pattern
from triage_cli.store.orders import OrderStore
from triage_cli.store.tickets import TicketStore
from triage_cli.tools.orders import order_registry

SHOP_PATTERN = r"[0-9]{5}|ORD-[0-9]+|B[0-9]+"


def run_offline(engine: OfflineEngine, message: str, named: str | None = None) -> tuple[str, TriageRecord, list[str]]:
    """One turn as the front ends send it: the reply, the record and the ids looked up."""
    conversation = Conversation()
    conversation.add_user(message, named)

    async def go():
        return [event async for event in engine.run(conversation)]

    events = asyncio.run(go())
    planned = [call for e in events if isinstance(e, ToolCallsPlanned) for call in e.calls]
    looked_up = [json.loads(call.arguments)["order_id"] for call in planned]
    record = next(e for e in events if isinstance(e, TriageRecord))
    return "".join(e.text for e in events if isinstance(e, TextDelta)), record, looked_up


@pytest.fixture
def demo_engine(tmp_path):
    return OfflineEngine(order_registry(OrderStore.demo(tmp_path)), today=date.today())


@pytest.fixture
def shop_db(tmp_path) -> Path:
    """An order database whose ids are not shaped like A1002."""
    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (order_id TEXT PRIMARY KEY, status TEXT NOT NULL, eta TEXT)")
        db.executemany("INSERT INTO orders VALUES (?, ?, ?)", [
            ("12345", "in_transit", date.today().isoformat()), ("ORD-777", "delivered", None), ("B1", "packed", None),
        ])
    db.close()
    return path


# item 1: the named order, and words that only look like ids ------------------------------------


@pytest.mark.parametrize("message, other", [
    ("Where is my order? It is a charger for my Galaxy S1000", "S1000"),
    ("I'm in room B204, where is my parcel?", "B204"),
    ("It is a Canon R100, when does it come?", "R100"),
])
def test_the_named_order_is_looked_up_and_an_unknown_product_code_does_not_escalate(demo_engine, message, other):
    reply, record, looked_up = run_offline(demo_engine, message, "A1002")

    assert looked_up == ["A1002", other]
    assert (record.order_id, record.status, record.next_step) == ("A1002", "delayed", "answer")
    assert f"{other} is not an order we know" in record.summary
    assert f"**{other}** is not an order we know" in reply and "tomorrow" in reply
    assert f"no order {other}" not in reply


def test_without_a_named_order_an_unknown_id_still_escalates_as_missing(demo_engine):
    _, record, looked_up = run_offline(demo_engine, "Where is my Galaxy S1000?")
    assert looked_up == ["S1000"]
    assert (record.status, record.next_step, record.issue) == ("not found", "escalate", "order not found")


def test_a_named_order_that_does_not_exist_escalates_and_the_product_code_is_only_reported(demo_engine):
    reply, record, _ = run_offline(demo_engine, "A charger for my Galaxy S1000", "A9999")
    assert record.next_step == "escalate" and "no order A9999" in reply and "no order S1000" not in reply
    assert record.order_id == "A9999" and record.status == "not found"


def test_a_second_real_order_beside_the_named_one_is_looked_up_too(demo_engine):
    reply, record, looked_up = run_offline(demo_engine, "And A1003?", "A1002")
    assert looked_up == ["A1002", "A1003"] and "A1003" in reply and record.next_step == "answer"


def test_the_settle_guard_forces_escalation_only_for_the_named_order_or_without_one():
    found = {"found": True, "order_id": "A1002", "status": "delayed"}
    product = {"found": False, "order_id": "S1000"}
    reply = "A1002 is delayed by a day.\n\n**Next step:** answer."
    fields = {"order_id": "A1002", "status": "delayed", "next_step": "answer", "summary": "late"}

    record, line = settle(fields, "Order A1002: a charger for my Galaxy S1000", reply, [found, product], "A1002")
    assert record.next_step == "answer" and line is None
    record, _ = settle(fields, "a charger for my Galaxy S1000", reply, [found, product])
    assert record.next_step == "escalate"  # no order named: an unknown id is a missing order, as before
    assert assess("q", [{"found": False, "order_id": "A9999"}], "a9999").missing == ["A9999"]


def test_the_model_sees_the_named_order_and_an_unknown_product_code_files_no_ticket(server, model_env, tmp_path):
    """The model path, in process, with the real openai SDK against the scripted server."""
    server.add(
        tools(("get_order_status", {"order_id": "A1002"}), ("get_order_status", {"order_id": "S1000"})),
        answer("Order A1002 is delayed by a day; it should arrive tomorrow.", order_id="A1002",
               issue="late delivery", status="delayed", next_step="answer", summary="A1002 is a day late."),
    )
    settings = load_settings(environ={**model_env, "TRIAGE_HOME": str(tmp_path / "home"),
                                      "TRIAGE_CONFIG": str(_empty_config(tmp_path))})
    engine = build_engine(settings)
    journal = Journal.for_settings(settings, "ask")
    message = "Where is my order? It is a charger for my Galaxy S1000"

    async def go():
        try:
            return [e async for e in run_turn(engine, Conversation(), message, journal, order="A1002")]
        finally:
            await engine.aclose()

    events = asyncio.run(go())
    record = next(e for e in events if isinstance(e, TriageRecord))
    assert server.requests[0]["messages"][-1] == {"role": "user", "content": f"Order A1002: {message}"}
    assert (record.next_step, record.ticket) == ("answer", None)
    assert TicketStore(settings.home).list("all") == []


def test_ask_with_order_and_a_product_code_answers_without_a_ticket(run_triage, triage_env):
    result = run_triage("ask", "--json", "--order", "A1002", "Where is my order? It is a charger for my Galaxy S1000")

    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert [c["arguments"]["order_id"] for c in report["tool_calls"]] == ["A1002", "S1000"]
    assert report["triage"]["next_step"] == "answer" and report["triage"]["ticket"] is None
    assert report["triage"]["order_id"] == "A1002" and report["triage"]["status"] == "delayed"
    assert TicketStore(Path(triage_env["TRIAGE_HOME"])).list("all") == []


# item 2: the order_id_pattern setting ---------------------------------------------------------


def test_the_pattern_drives_the_scan_the_flag_and_slash_order():
    shop = compile_order_id_pattern(SHOP_PATTERN)
    assert find_order_ids("Where is order 12345? And ord-777, b1, not 123456 or B1X", pattern=shop) == [
        "12345", "ORD-777", "B1"]
    assert find_order_ids("Where is order 12345?") == []  # the default shape: a letter and digits
    assert parse_order_id(" ord-777 ", shop) == "ORD-777" and parse_order_id("#12345.", shop) == "12345"
    assert parse_order_id("A1002", shop) is None and parse_order_id("12345 12346", shop) is None
    with pytest.raises(UsageError, match="matching order_id_pattern"):
        order_flag("A1002", pattern=shop)
    assert order_flag("12345", pattern=shop) == "12345"


def test_completion_offers_the_ids_the_pattern_accepts():
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from triage_cli.ui.prompt_input import ChatCompleter

    completer = ChatCompleter({}, lambda: ["12345", "12399", "ORD-777", "B1", "junk"],
                              compile_order_id_pattern(SHOP_PATTERN))

    def complete(text: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(text), CompleteEvent())]

    assert complete("where is 123") == ["12345", "12399"]
    assert complete("/order ord") == ["ORD-777"]
    assert complete("/order ") == ["12345", "12399", "ORD-777", "B1"]  # not "junk": not an id
    assert complete("where is 9") == []


def test_the_offline_engine_uses_the_pattern(shop_db):
    pattern = compile_order_id_pattern(SHOP_PATTERN)  # the settings hand it to the tool and the engine
    engine = OfflineEngine(order_registry(OrderStore.open(shop_db), order_id_pattern=pattern), today=date.today(),
                           order_id_pattern=pattern)
    reply, record, looked_up = run_offline(engine, "Where is order 12345? Also ord-777")
    assert looked_up == ["12345", "ORD-777"]
    assert record.next_step == "answer" and "12345" in reply and "ORD-777" in reply and "delivered" in reply
    reply, _, _ = run_offline(engine, "Hello, where is my parcel?")
    assert "order number" in reply and "A1002" not in reply  # no example of the wrong shape


def _empty_config(tmp_path: Path) -> Path:
    path = tmp_path / "empty.toml"
    path.write_text("")
    return path


def test_the_setting_comes_from_the_file_or_the_environment_and_bad_ones_name_their_source(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f"timeout = 30\norder_id_pattern = '{SHOP_PATTERN}'\n")
    settings = load_settings(environ={"TRIAGE_CONFIG": str(config)})
    assert settings.order_id_pattern.pattern == SHOP_PATTERN
    assert load_settings(environ={"TRIAGE_CONFIG": str(_empty_config(tmp_path))}).order_id_pattern.fullmatch("a1002")

    config.write_text("timeout = 30\norder_id_pattern = '[0-9'\n")
    with pytest.raises(ConfigError, match=re.escape(f"{config}, line 2: order_id_pattern '[0-9' is unusable: "
                                                    "not a valid regular expression")):
        load_settings(environ={"TRIAGE_CONFIG": str(config)})
    with pytest.raises(ConfigError, match="TRIAGE_ORDER_ID_PATTERN: .* matches the empty string"):
        load_settings(environ={"TRIAGE_CONFIG": str(_empty_config(tmp_path)), "TRIAGE_ORDER_ID_PATTERN": "[0-9]*"})
    config.write_text("order_id_pattern = 12\n")
    with pytest.raises(ConfigError, match="line 1: 'order_id_pattern' must be a regular expression"):
        load_settings(environ={"TRIAGE_CONFIG": str(config)})


def test_ask_with_numeric_and_prefixed_ids_from_your_own_database(run_triage, shop_db):
    env = {"TRIAGE_ORDERS_DB": str(shop_db), "TRIAGE_ORDER_ID_PATTERN": SHOP_PATTERN}

    by_flag = run_triage("ask", "--json", "--order", "12345", "late?", env=env)
    in_text = run_triage("ask", "--json", "Where is order 12345? And ord-777?", env=env)
    refused = run_triage("ask", "--order", "A1002", "late?", env=env)
    bad = run_triage("ask", "hi", env={**env, "TRIAGE_ORDER_ID_PATTERN": "("})

    assert by_flag.code == 0, by_flag.err
    report = json.loads(by_flag.out)
    assert report["triage"]["order_id"] == "12345" and report["triage"]["status"] == "in_transit"
    assert in_text.code == 0, in_text.err
    report = json.loads(in_text.out)
    assert [c["result"]["order_id"] for c in report["tool_calls"]] == ["12345", "ORD-777"]
    assert report["triage"]["next_step"] == "answer"
    assert refused.code == 2 and refused.err.count("\n") == 1
    assert "--order takes one order id matching order_id_pattern" in refused.err
    assert bad.code != 0 and "TRIAGE_ORDER_ID_PATTERN" in bad.err and "Traceback" not in bad.err


def test_slash_order_and_chat_order_take_the_shop_s_ids(tmp_path, shop_db):
    from triage_cli.session import TriageSession
    from triage_cli.ui.repl import Repl
    from triage_cli.ui.slash_commands import run_command

    settings = load_settings(environ={"TRIAGE_CONFIG": str(_empty_config(tmp_path)), "TRIAGE_HOME": str(tmp_path),
                                      "TRIAGE_ORDERS_DB": str(shop_db), "TRIAGE_ORDER_ID_PATTERN": SHOP_PATTERN})
    repl = Repl(TriageSession(settings, source="chat", order="12345"))
    said: list[str] = []
    repl.say = lambda text, style: said.append(text)  # type: ignore[method-assign]
    assert repl.session.order == "12345"

    asyncio.run(run_command(repl, "/order ord-777"))
    assert repl.session.order == "ORD-777" and said[-1] == "order in context: ORD-777"
    asyncio.run(run_command(repl, "/order A1002"))
    assert repl.session.order == "ORD-777"
    assert said[-1].startswith("error: /order takes one order id matching order_id_pattern")
