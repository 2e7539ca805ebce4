"""Dates stored absolute (issue 27): the reply shown at the time may say "tomorrow"; what is
stored (the reply, the answer messages, the record, a ticket) says the date, so a transcript read
a week later is still right. The customer's words are stored as written."""

from __future__ import annotations

import json
import re
from datetime import date

from scripted_server import ScriptedServer, answer
from triage_cli.session.absolute_dates import absolute

DAY = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"


def test_relative_days_become_the_dates_they_meant():
    today = date(2026, 12, 31)
    assert absolute("Expected delivery: tomorrow (Fri 01 Jan 2027)", today) == "Expected delivery: Fri 01 Jan 2027"
    assert absolute("Latest update: today at 07:10: left the hub", today) == "Latest update: Thu 31 Dec at 07:10: left the hub"
    assert absolute("It arrives Tomorrow; it shipped yesterday.", today) == "It arrives Fri 01 Jan 2027; it shipped Wed 30 Dec."
    assert absolute("Todayville and yesterdays stay", today) == "Todayville and yesterdays stay"


def test_the_offline_answer_is_stored_dated_and_the_question_as_written(run_triage):
    shown = run_triage("ask", "Where is A1002? I need it by tomorrow")
    assert shown.code == 0 and "tomorrow (" in shown.out  # what was shown at the time
    [stored] = json.loads(run_triage("history", "--json").out)
    exported = json.loads(run_triage("history", "export", str(stored["id"]), "--format", "json").out)
    turn = exported["turns"][0]
    assert turn["question"] == "Where is A1002? I need it by tomorrow"  # the customer's words
    for text in (turn["reply"], turn["messages"][-1]["content"]):
        assert not re.search(r"\b(today|tomorrow|yesterday)\b", text, re.IGNORECASE), text
        assert re.search(rf"Expected delivery:\*\* {DAY}", text), text


def test_a_models_words_and_a_tickets_reply_are_stored_dated(run_triage):
    reply = "Your parcel is lost; it was due yesterday. A colleague will write to you tomorrow."
    with ScriptedServer([answer(reply, order_id="A1009", issue="lost parcel", status="lost", next_step="escalate",
                                summary="Lost; the customer hears back tomorrow.")]) as server:
        env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server.base_url}
        shown = run_triage("ask", "--json", "--order", "A1009", "where is it?", env=env)
    assert json.loads(shown.out)["reply"].startswith(reply)  # shown as said
    ticket = json.loads(run_triage("tickets", "show", "1", "--json").out)
    assert re.match(rf"Your parcel is lost; it was due {DAY}\. A colleague will write to you {DAY}\.\n", ticket["reply"])
    assert re.fullmatch(rf"Lost; the customer hears back {DAY}\.", ticket["summary"])
    [stored] = json.loads(run_triage("history", "--json").out)
    assert re.fullmatch(rf"Lost; the customer hears back {DAY}\.", stored["turns"][0]["triage"]["summary"])
