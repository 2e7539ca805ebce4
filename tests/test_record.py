"""The triage record: order lookups, the escalation guard, and settling a model's record against
its reply so the two never disagree."""

from __future__ import annotations

import json

import pytest

from triage_cli.engine.events import ToolCall, TriageRecord
from triage_cli.engine.record import (
    Assessment,
    assess,
    lookups_from_calls,
    parse_lookup,
    rules_record,
    settle,
    stated_next_step,
    verdict_line,
)
from triage_cli.tools.orders import ORDER_TOOL

# --- helpers -----------------------------------------------------------------------------------

_ids = iter(range(10_000))


def call(order_id=None, *, name="get_order_status", arguments=None) -> ToolCall:
    if arguments is None:
        arguments = json.dumps({"order_id": order_id})
    return ToolCall(f"call_{next(_ids)}", name, arguments)


def found(order_id="A1002", status="delayed", **extra) -> str:
    data = {"found": True, "order_id": order_id, "status": status, "carrier": "DHL",
            "tracking": "JD014600", "eta": "2024-05-03", **extra}
    return json.dumps(data)


def not_found(order_id="A9999") -> str:
    return json.dumps({"found": False, "order_id": order_id, "message": f"No order {order_id} in the order system."})


def lookups(*pairs) -> list[dict]:
    return lookups_from_calls(pairs)


ANSWER_FIELDS = {
    "order_id": "A1002",
    "issue": "late delivery",
    "status": "delayed",
    "next_step": "answer",
    "summary": "A1002 is a day late; tell the customer the new date.",
}


def test_order_tool_name_matches_the_calls_built_here():
    assert ORDER_TOOL == "get_order_status"


# --- parse_lookup / lookups_from_calls ---------------------------------------------------------


def test_parse_lookup_turns_values_into_text_but_keeps_booleans_and_none():
    data = parse_lookup(json.dumps({"found": True, "order_id": "A1002", "status": "delayed", "items": 3,
                                    "note": None}), "A1002")
    assert data == {"found": True, "order_id": "A1002", "status": "delayed", "items": "3", "note": None}


def test_parse_lookup_of_an_error_text_is_a_failed_lookup_with_the_error_message():
    data = parse_lookup("error: tool 'get_order_status' timed out after 10 s", "A1002")
    assert data == {"found": False, "order_id": "A1002", "error": "tool 'get_order_status' timed out after 10 s"}


def test_parse_lookup_fills_in_a_missing_order_id_and_treats_non_objects_as_failures():
    assert parse_lookup(json.dumps({"found": True, "status": "shipped"}), "A1003")["order_id"] == "A1003"
    assert parse_lookup("[1, 2]", "A1003") == {"found": False, "order_id": "A1003", "error": "[1, 2]"}


def test_lookups_from_calls_parses_found_not_found_and_failed_lookups():
    orders = lookups(
        (call("A1002"), found("A1002")),
        (call("A9999"), not_found("A9999")),
        (call("A1003"), "error: timed out"),
    )
    assert [o["order_id"] for o in orders] == ["A1002", "A9999", "A1003"]
    assert orders[0]["found"] is True and orders[0]["status"] == "delayed"
    assert orders[1]["found"] is False and "error" not in orders[1]
    assert orders[2]["found"] is False and orders[2]["error"] == "timed out"


def test_lookups_from_calls_ignores_malformed_calls_and_other_tools():
    orders = lookups(
        (call(arguments="{}"), not_found("X")),
        (call(arguments='{"order": "A9999"}'), not_found("A9999")),
        (call(arguments='{"order_id": "A99'), not_found("A9999")),  # invalid JSON
        (call(arguments="not json"), "error: bad arguments"),
        (call(arguments='{"order_id": ""}'), "error: order_id must be a non-empty id"),
        (call(arguments='{"order_id": "   "}'), "error: order_id must be a non-empty id"),
        (call(arguments='{"order_id": 1002}'), "error: argument 'order_id' must be a string"),
        (call(arguments='{"order_id": null}'), "error: x"),
        (call(arguments='["A9999"]'), not_found("A9999")),
        (call("A9999", name="search_docs"), not_found("A9999")),
        # A mangled id (SmolLM2 on llama-cpp-python sent these): the tool refused it, no lookup.
        (call("A1002.RESPONSE&#34;STATUSCODE"), "error: 'A1002.RESPONSE&#34;STAT' is not an order id"),
        (call("the order"), "error: 'THE ORDER' is not an order id"),
        (call("A1002"), found("A1002")),
    )
    assert [o["order_id"] for o in orders] == ["A1002"]


def test_lookups_from_calls_normalises_the_requested_id_for_a_failed_lookup():
    orders = lookups((call(" a1002 "), "error: timed out"))
    assert orders == [{"found": False, "order_id": "A1002", "error": "timed out"}]


def test_an_order_looked_up_twice_counts_by_its_last_result():
    orders = lookups((call("A1002"), "error: timed out"), (call("A1003"), found("A1003", "shipped")),
                     (call("a1002"), found("A1002")))
    assert [o["order_id"] for o in orders] == ["A1003", "A1002"]
    assert orders[1]["found"] is True and "error" not in orders[1]

    orders = lookups((call("A1002"), found("A1002")), (call("A1002"), "error: timed out"))
    assert orders == [{"found": False, "order_id": "A1002", "error": "timed out"}]


# --- stated_next_step / verdict_line -----------------------------------------------------------


@pytest.mark.parametrize("reply, step", [
    ("A1002 is late.\n\n**Next step:** escalate: no order.", "escalate"),
    ("Next step: answer", "answer"),
    ("next step - Escalate", "escalate"),
    ("NEXT STEP: ANSWER.", "answer"),
    ("**Next step**: answer", "answer"),
    ("Next step: **escalate** (refund)", "escalate"),
    ("No stated step here; just answer the customer.", None),
    ("", None),
    ("Next step: answered", None),
])
def test_stated_next_step_recognises_the_usual_spellings(reply, step):
    assert stated_next_step(reply) == step


def test_stated_next_step_returns_the_last_step_stated():
    assert stated_next_step("Next step: answer\n...\n**Next step:** escalate") == "escalate"
    assert stated_next_step("next step - escalate, then later Next step: answer") == "answer"


def test_verdict_line_with_and_without_reasons():
    assert verdict_line("answer", []) == "**Next step:** answer."
    assert verdict_line("escalate", ["no order A9999 in the order system"]) == (
        "**Next step:** escalate: no order A9999 in the order system.")
    assert verdict_line("escalate", ["a", "b"]) == "**Next step:** escalate: a; b."
    assert stated_next_step(verdict_line("escalate", ["x"])) == "escalate"


# --- assess ------------------------------------------------------------------------------------


def test_assess_answers_for_a_found_order_and_a_plain_question():
    result = assess("Where is my order A1002?", lookups((call("A1002"), found("A1002"))))
    assert result == Assessment("answer", [], [], [])


def test_assess_forces_escalation_for_a_missing_order_and_names_it():
    result = assess("Where is A9999?", lookups((call("A9999"), not_found("A9999"))))
    assert result.next_step == "escalate"
    assert result.forced == ["no order A9999 in the order system"]
    assert result.reasons == result.forced


def test_assess_forces_escalation_for_a_failed_lookup_and_names_it():
    result = assess("Where is A1002?", lookups((call("A1002"), "error: timed out")))
    assert result.next_step == "escalate"
    assert len(result.forced) == 1 and "A1002" in result.forced[0] and "could not be read" in result.forced[0]


def test_assess_escalates_for_out_of_scope_topics_without_forcing():
    result = assess("A1002 arrived damaged, I want a refund", lookups((call("A1002"), found("A1002", "delivered"))))
    assert result.next_step == "escalate"
    assert result.topics == ["refund", "damage"]
    assert result.forced == []
    assert any("refund and damage" in reason for reason in result.reasons)


def test_assess_escalates_a_lost_parcel_without_forcing():
    result = assess("Where is A1005?", lookups((call("A1005"), found("A1005", "lost"))))
    assert result.next_step == "escalate"
    assert result.forced == [] and result.topics == []
    assert any("lost" in reason for reason in result.reasons)


def test_assess_with_no_orders_and_no_topics_answers():
    assert assess("Hello?", []).next_step == "answer"


# --- rules_record ------------------------------------------------------------------------------


def test_rules_record_for_a_found_order_describes_it_from_the_data():
    orders = lookups((call("A1002"), found("A1002", "out_for_delivery")))
    record = rules_record("Where is A1002?", orders, assess("Where is A1002?", orders))
    assert record == TriageRecord(
        order_id="A1002",
        issue="order status",
        status="out_for_delivery",
        next_step="answer",
        summary="A1002 is out for delivery. Next step: answer.",
    )


def test_rules_record_for_a_missing_and_a_delayed_order():
    orders = lookups((call("A1002"), found("A1002")), (call("A9999"), not_found("A9999")))
    record = rules_record("A1002 and A9999?", orders, assess("A1002 and A9999?", orders))
    assert record.order_id == "A1002, A9999"
    assert record.issue == "order not found"
    assert record.status == "A1002: delayed; A9999: not found"
    assert record.next_step == "escalate"
    assert record.summary == "A1002 is delayed; A9999 was not found. Next step: escalate."


def test_rules_record_without_orders_says_no_order_id_was_given():
    record = rules_record("Hi", [], assess("Hi", []))
    assert record.order_id is None
    assert record.issue == "no order id given" and record.status == "no order id given"
    assert record.summary == "The customer gave no order id. Next step: answer."


def test_rules_record_names_out_of_scope_topics_as_the_issue_and_in_the_summary():
    question = "I want my money back for A1002"
    orders = lookups((call("A1002"), found("A1002")))
    record = rules_record(question, orders, assess(question, orders))
    assert record.issue == "refund"
    assert "The customer asks about: refund." in record.summary
    assert record.next_step == "escalate"


def test_rules_record_marks_a_failed_lookup_in_the_status():
    orders = lookups((call("A1002"), "error: timed out"))
    record = rules_record("Where is A1002?", orders, assess("Where is A1002?", orders))
    assert record.status == "lookup failed"
    assert record.next_step == "escalate"


# --- settle: the guard -------------------------------------------------------------------------


def test_settle_escalates_a_not_found_lookup_even_when_fields_and_reply_say_answer():
    orders = lookups((call("A9999"), not_found("A9999")))
    reply = "I could not find the order, but it is probably fine.\n\n**Next step:** answer"
    record, line = settle({**ANSWER_FIELDS, "order_id": "A9999"}, "Where is A9999?", reply, orders)
    assert record.next_step == "escalate"
    assert line is not None
    assert stated_next_step(line) == "escalate"
    assert "A9999" in line
    assert line.startswith("**Next step:** escalate")
    assert "overrides" in line  # the reply said answer above it


def test_settle_escalates_a_not_found_lookup_when_fields_say_answer_and_the_reply_states_nothing():
    orders = lookups((call("A9999"), not_found("A9999")))
    record, line = settle(dict(ANSWER_FIELDS), "Where is A9999?", "Nothing to worry about.", orders)
    assert record.next_step == "escalate"
    assert line == "**Next step:** escalate: no order A9999 in the order system."


def test_settle_escalates_a_failed_lookup_even_when_fields_and_reply_say_answer():
    orders = lookups((call("A1002"), "error: timed out"))
    record, line = settle(dict(ANSWER_FIELDS), "Where is A1002?", "All good.\n\nNext step: answer", orders)
    assert record.next_step == "escalate"
    assert line is not None and stated_next_step(line) == "escalate" and "A1002" in line


def test_settle_escalates_when_one_of_several_orders_is_not_found():
    orders = lookups((call("A1002"), found("A1002")), (call("A9999"), not_found("A9999")))
    record, line = settle(dict(ANSWER_FIELDS), "A1002 and A9999?", "**Next step:** answer", orders)
    assert record.next_step == "escalate"
    assert "A9999" in line and "A1002" not in line


def test_settle_ignores_a_malformed_call_so_it_does_not_force_escalation():
    orders = lookups((call(arguments='{"order": "A9999"}'), not_found("A9999")),
                     (call(arguments="{bad json"), "error: invalid arguments"),
                     (call("A1002"), found("A1002")))
    record, line = settle(dict(ANSWER_FIELDS), "Where is A1002?", "It is late.\n\n**Next step:** answer", orders)
    assert record.next_step == "answer"
    assert line is None


def test_settle_uses_the_last_result_of_an_order_looked_up_twice():
    failed_then_found = lookups((call("A1002"), "error: timed out"), (call("A1002"), found("A1002")))
    record, line = settle(dict(ANSWER_FIELDS), "Where is A1002?", "**Next step:** answer", failed_then_found)
    assert record.next_step == "answer" and line is None
    assert record.status == "delayed"

    found_then_missing = lookups((call("A1002"), found("A1002")), (call("A1002"), not_found("A1002")))
    record, line = settle(dict(ANSWER_FIELDS), "Where is A1002?", "**Next step:** answer", found_then_missing)
    assert record.next_step == "escalate"
    assert "A1002" in line


# --- settle: agreement between reply and record ------------------------------------------------


def test_settle_adds_no_line_when_the_reply_already_states_the_settled_step():
    orders = lookups((call("A1002"), found("A1002")))
    record, line = settle(dict(ANSWER_FIELDS), "Where is A1002?", "It is late.\n\n**Next step:** answer", orders)
    assert record.next_step == "answer"
    assert line is None

    escalate = {**ANSWER_FIELDS, "next_step": "escalate"}
    record, line = settle(escalate, "Refund A1002", "Needs approval.\n\nNext step: escalate (refund).", orders)
    assert record.next_step == "escalate"
    assert line is None


def test_settle_adds_the_step_when_the_reply_states_none():
    orders = lookups((call("A1002"), found("A1002")))
    record, line = settle(dict(ANSWER_FIELDS), "Where is A1002?", "A1002 is a day late.", orders)
    assert record.next_step == "answer"
    assert line == "**Next step:** answer."

    record, line = settle({**ANSWER_FIELDS, "next_step": "escalate"}, "Where is A1002?", "A1002 is late.", orders)
    assert record.next_step == "escalate"
    assert line is not None and line.startswith("**Next step:** escalate")


def test_settle_escalate_in_the_fields_wins_over_answer_in_the_reply():
    orders = lookups((call("A1002"), found("A1002")))
    fields = {**ANSWER_FIELDS, "next_step": "escalate"}
    record, line = settle(fields, "Where is A1002?", "It is late.\n\n**Next step:** answer", orders)
    assert record.next_step == "escalate"
    assert line is not None and stated_next_step(line) == "escalate"
    assert "overrides" in line


def test_settle_escalate_in_the_reply_wins_over_answer_in_the_fields():
    orders = lookups((call("A1002"), found("A1002")))
    record, line = settle(dict(ANSWER_FIELDS), "Where is A1002?", "It is late.\n\nNext step - Escalate", orders)
    assert record.next_step == "escalate"
    assert line is None  # the reply already says escalate


def test_settle_off_follows_the_model_answer_despite_an_out_of_scope_word():
    orders = lookups((call("A1002"), found("A1002")))
    record, line = settle(dict(ANSWER_FIELDS), "Is A1002 damaged?", "It is not damaged.\n\n**Next step:** answer",
                          orders, level="off")
    assert record.next_step == "answer" and line is None and record.guard is None


def test_settle_strict_escalates_a_request_the_rules_read_in_the_message_whatever_the_model_said():
    orders = lookups((call("A1002"), found("A1002", "delivered")))
    reply = "A1002 was delivered.\n\n**Next step:** answer"
    record, line = settle(dict(ANSWER_FIELDS), "A1002 please refund now", reply, orders)
    assert record.next_step == "escalate"
    assert record.guard == "the customer asks about refund, which the order data does not cover"
    assert record.issue == "refund"  # the model's "late delivery" described an answer it should not give
    assert "Next step: answer" not in record.summary and "refund" in record.summary
    assert line == ("**Next step:** escalate: the customer asks about refund, which the order data does not "
                    "cover (this overrides the next step above).")
    # "record" trusts the model's reading of the message: its issue names no topic.
    record, _ = settle(dict(ANSWER_FIELDS), "A1002 please refund now", reply, orders, level="record")
    assert record.next_step == "answer" and record.guard is None


@pytest.mark.parametrize("issue, escalates", [
    ("refund request", True), ("damaged headphones", True), ("wrong item received", True),
    ("wants to cancel the order", True), ("address change", True),
    ("refund status", False), ("late delivery", False), ("order status", False), ("delivery date", False),
])
def test_settle_record_escalates_when_the_models_own_issue_names_a_topic(issue, escalates):
    orders = lookups((call("A1003"), found("A1003", "delivered")))
    fields = {**ANSWER_FIELDS, "issue": issue}
    record, line = settle(fields, "About A1003", "Delivered.\n\n**Next step:** answer", orders, level="record")
    assert (record.next_step == "escalate") is escalates
    assert (record.guard is not None) is escalates
    if escalates:  # the summary is the rules' for the escalation, never the model's "tell the customer"
        assert record.summary.startswith("A1003 is delivered.") and record.summary.endswith("Next step: escalate.")


def test_settle_record_leaves_a_topic_the_data_records_to_the_model():
    cancelled = lookups((call("A1007"), found("A1007", "cancelled", note="Refund of the full amount issued.")))
    for issue in ("order cancellation", "refund", "cancelled order refund"):
        fields = {**ANSWER_FIELDS, "issue": issue}
        record, _ = settle(fields, "what happened to A1007", "Cancelled.\n\n**Next step:** answer", cancelled,
                           level="record")
        assert record.next_step == "answer", issue
    fields = {**ANSWER_FIELDS, "issue": "cancellation request"}
    record, _ = settle(fields, "what happened", "Cancelled.\n\n**Next step:** answer", cancelled, level="record")
    assert record.next_step == "escalate"


def test_settle_record_escalates_a_lost_parcel_the_model_would_answer():
    orders = lookups((call("A1009"), found("A1009", "lost")))
    record, line = settle(dict(ANSWER_FIELDS), "Where is A1009?", "It is lost.\n\n**Next step:** answer", orders,
                          level="record")
    assert record.next_step == "escalate" and "lost parcel" in record.guard and "lost parcel" in line


def test_settle_never_turns_the_models_escalate_into_answer():
    orders = lookups((call("A1002"), found("A1002")))
    for guard in ("strict", "record", "off"):
        record, line = settle({**ANSWER_FIELDS, "next_step": "escalate"}, "Where is A1002?",
                              "Late.\n\n**Next step:** escalate", orders, level=guard)
        assert record.next_step == "escalate" and line is None and record.guard is None


def test_settle_takes_the_order_id_and_status_from_the_lookups_not_the_model():
    orders = lookups((call("A1002"), found("A1002", "delayed")))
    fields = {**ANSWER_FIELDS, "order_id": "A7777", "status": "status value"}
    record, _ = settle(fields, "Where is A1002?", "Late.\n\n**Next step:** answer", orders)
    assert (record.order_id, record.status) == ("A1002", "delayed")
    several = lookups((call("A1002"), found("A1002", "delayed")), (call("A1005"), found("A1005", "in_transit")))
    record, _ = settle(fields, "A1002 and A1005?", "**Next step:** answer", several)
    assert (record.order_id, record.status) == ("A1002, A1005", "A1002: delayed; A1005: in_transit")


def test_settle_without_lookups_this_turn_keeps_the_earlier_records_order_and_status():
    earlier = TriageRecord("A1002", "late delivery", "delayed", "answer", "A1002 is late.")
    fields = {**ANSWER_FIELDS, "order_id": "A7777", "status": "on its way"}
    record, _ = settle(fields, "and when will it come?", "Tomorrow.\n\n**Next step:** answer", [], earlier=earlier)
    assert (record.order_id, record.status) == ("A1002", "delayed")
    record, _ = settle(fields, "hello", "Hi.\n\n**Next step:** answer", [])
    assert (record.order_id, record.status) == (None, "no order id given")


@pytest.mark.parametrize("summary", [
    '{"found": true, "orderid": "A1005", "status": "in_transit", "lastevent": "Arrived at the loc',
    'order_id: A1005, last_event: Arrived', '["A1005"]',
])
def test_settle_never_takes_a_data_like_summary_or_issue(summary):
    orders = lookups((call("A1005"), found("A1005", "in_transit")))
    fields = {**ANSWER_FIELDS, "summary": summary, "issue": summary}
    record, _ = settle(fields, "Where is A1005?", "On its way.\n\n**Next step:** answer", orders)
    assert record.summary == "A1005 is in transit. Next step: answer."
    assert record.issue == "order status"


# --- settle: derivation when the model gave no fields ------------------------------------------


def test_settle_without_fields_derives_the_record_from_the_lookup_and_reply():
    orders = lookups((call("A1002"), found("A1002")))
    reply = "## Order A1002\n\n**A1002** is *delayed* by a day. The carrier is `DHL`. It should arrive Friday.\n"
    record, line = settle(None, "Where is A1002?", reply, orders)
    assert record.order_id == "A1002"
    assert record.status == "delayed"
    assert record.issue == "delayed delivery"
    assert record.next_step == "answer"
    assert record.summary == "A1002 is delayed. Next step: answer."  # from the lookups, never the reply
    assert line == "**Next step:** answer."


def test_settle_without_fields_writes_the_summary_from_the_lookups_and_topic():
    orders = lookups((call("A1002"), found("A1002")))
    record, line = settle(None, "Where is A1002?", "- **A1002** is late.\n\n**Next step:** answer", orders)
    assert record.summary == "A1002 is delayed. Next step: answer."
    assert line is None
    record, _ = settle(None, "Refund A1002 please", "- **A1002** is late.\n\n**Next step:** escalate", orders)
    assert record.summary == "A1002 is delayed. The customer asks about: refund. Next step: escalate."


def test_settle_without_fields_marks_a_missing_order_not_found():
    orders = lookups((call("A9999"), not_found("A9999")))
    record, line = settle(None, "Where is A9999?", "There is no order A9999.", orders)
    assert record.order_id == "A9999"
    assert record.status == "not found"
    assert record.issue  # non-empty
    assert record.next_step == "escalate"
    assert "A9999" in line


@pytest.mark.parametrize("question, topic", [("I want a refund for A1002", "refund"),
                                             ("A1002 arrived damaged", "damage")])
def test_settle_without_fields_or_stated_step_escalates_an_out_of_scope_question(question, topic):
    orders = lookups((call("A1002"), found("A1002", "delivered")))
    record, line = settle(None, question, "A1002 was delivered on Monday.", orders)
    assert record.next_step == "escalate"
    assert record.issue == topic
    assert line is not None and line.startswith("**Next step:** escalate")
    assert topic in line


def test_settle_with_empty_fields_behaves_like_no_fields():
    orders = lookups((call("A1002"), found("A1002")))
    assert settle({}, "Refund A1002", "It was delivered.", orders) == settle(None, "Refund A1002",
                                                                             "It was delivered.", orders)


def test_settle_without_fields_and_an_empty_reply_falls_back_to_the_rules_summary():
    orders = lookups((call("A1002"), found("A1002")))
    record, _ = settle(None, "Where is A1002?", "", orders)
    assert record.summary == "A1002 is delayed. Next step: answer."


def test_settle_without_fields_or_orders():
    record, line = settle(None, "Hello", "Please give me an order id.", [])
    assert record.order_id is None
    assert record.status == "no order id given"
    assert record.issue == "no order id given"
    assert record.next_step == "answer"
    assert record.summary == "The customer gave no order id. Next step: answer."
    assert line == "**Next step:** answer."


# --- settle: field cleaning --------------------------------------------------------------------


@pytest.mark.parametrize("given", ["null", "", "NULL", "None", "n/a", None, "   "])
def test_settle_replaces_an_empty_or_null_order_id_with_the_lookups_id(given):
    orders = lookups((call("A1002"), found("A1002")))
    record, _ = settle({**ANSWER_FIELDS, "order_id": given}, "Where is A1002?", "**Next step:** answer", orders)
    assert record.order_id == "A1002"


def test_settle_keeps_the_models_fields_when_they_are_given():
    orders = lookups((call("A1002"), found("A1002")))
    record, _ = settle(dict(ANSWER_FIELDS), "Where is A1002?", "Late.\n**Next step:** answer", orders)
    assert record == TriageRecord(**ANSWER_FIELDS)


def test_settle_cuts_multi_line_and_over_long_fields_to_one_short_line():
    orders = lookups((call("A1002"), found("A1002")))
    fields = {
        **ANSWER_FIELDS,
        "issue": "late\n  delivery\tand   more " + "x" * 300,
        "status": "delayed\r\nby weather",
        "summary": "Line one.\nLine two.\n" + "y " * 500,
        "order_id": "A1002\n" + "Z" * 100,
    }
    record, _ = settle(fields, "Where is A1002?", "**Next step:** answer", orders)
    for value in (record.issue, record.status, record.summary, record.order_id):
        assert "\n" not in value and "\r" not in value and "\t" not in value and "  " not in value
    assert record.issue.startswith("late delivery and more x") and len(record.issue) <= 120
    assert record.summary.startswith("Line one. Line two. y y") and len(record.summary) <= 600
    assert (record.order_id, record.status) == ("A1002", "delayed")  # the lookup's, whatever the model wrote


def test_settle_ignores_non_text_field_values():
    orders = lookups((call("A1002"), found("A1002")))
    fields = {**ANSWER_FIELDS, "issue": {"a": 1}, "status": ["delayed"]}
    record, _ = settle(fields, "Where is A1002?", "**Next step:** answer", orders)
    assert record.issue == "delayed delivery"  # from the rules
    assert record.status == "delayed"


@pytest.mark.parametrize("step", ["maybe", "", None, "answer later", 1])
def test_settle_ignores_an_invalid_next_step_value(step):
    orders = lookups((call("A1002"), found("A1002")))
    fields = {**ANSWER_FIELDS, "next_step": step}
    # The reply's own step decides ...
    record, line = settle(fields, "Where is A1002?", "Late.\n\nNext step: escalate", orders)
    assert record.next_step == "escalate" and line is None
    # ... or, with none stated, the rules.
    record, line = settle(fields, "Where is A1002?", "Late.", orders)
    assert record.next_step == "answer" and line == "**Next step:** answer."
    record, line = settle(fields, "Refund for A1002?", "Late.", orders)
    assert record.next_step == "escalate" and "refund" in line


def test_settle_accepts_a_next_step_in_other_case_and_with_spaces():
    orders = lookups((call("A1002"), found("A1002")))
    record, line = settle({**ANSWER_FIELDS, "next_step": " Escalate "}, "Where is A1002?", "Late.", orders)
    assert record.next_step == "escalate"
    assert line is not None and line.startswith("**Next step:** escalate")
