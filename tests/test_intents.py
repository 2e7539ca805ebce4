"""The offline decision (issue 15): what the customer asks for, not which words appear; and the
shipped dev cases scored through the same runner as `triage eval`, in-process."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time

import pytest

from triage_cli.config import load_settings
from triage_cli.engine.conversation import Conversation
from triage_cli.engine.events import TextDelta, TriageRecord
from triage_cli.engine.intents import raised_topics
from triage_cli.engine.offline import OfflineEngine
from triage_cli.engine.policy import OTHER_REQUEST, out_of_scope_topics
from triage_cli.errors import UsageError
from triage_cli.eval.cases import load_cases, parse_cases
from triage_cli.eval.runner import run_cases
from triage_cli.eval.scoring import summarise
from triage_cli.store.orders import OrderStore
from triage_cli.tools.orders import order_registry
from triage_cli.ui.eval_view import parse_min


@pytest.fixture
def engine(tmp_path):
    morning = datetime.combine(date.today(), time(9, 0))
    return OfflineEngine(order_registry(OrderStore.demo(tmp_path, now=morning)), today=date.today())


def answer(engine, question: str) -> tuple[str, TriageRecord]:
    conversation = Conversation()
    conversation.add_user(question)

    async def go():
        return [event async for event in engine.run(conversation)]

    events = asyncio.run(go())
    reply = "".join(e.text for e in events if isinstance(e, TextDelta))
    return reply, next(e for e in events if isinstance(e, TriageRecord))


@pytest.mark.parametrize("question", [
    "I don't want to cancel, just tell me where A1004 is",
    "No need for a refund, when will A1002 arrive?",
    "Not charged twice I hope! Anyway, where is A1005?",
    "Hopefully nothing's broken, but has A1004 shipped?",
    "Why was my order A1017 cancelled?",
    "Why did A1027 get sent back to you?",
    "Did you receive my return A1018?",
    "My order A1010 still hasn't arrived",  # on its way: impatience, not a complaint
])
def test_negations_asides_and_questions_the_data_answers_are_answered(engine, question):
    reply, record = answer(engine, question)
    assert record.next_step == "answer", reply
    assert "**Next step:** answer" in reply


@pytest.mark.parametrize("question, topic", [
    ("I want my money returned for A1004", "refund"),
    ("If A1010 is not here by Friday I want to cancel it", "cancellation"),
    ("Please don't send A1012, I changed my mind", "cancellation"),
    ("Could you send A1028 to my work address instead?", "address change"),
    ("Can I swap A1023 for the large size?", "order change"),
    ("How do I send A1014 back?", "return"),
    ("Please send a replacement for A1003", "replacement"),
    ("A1006 says delivered but I never got it", "not received"),
    ("Someone took A1021 from my porch, it was stolen", "theft"),
    ("The lamp from A1004 arrived with the shade crushed", "damage"),
    ("You sent the wrong colour for A1003", "wrong item"),
    ("A1005 came without the water bottle", "missing item"),
    ("I was billed twice for A1013", "billing"),
    ("I'll take you to small claims court over A1002", "legal threat"),
    ("I want a goodwill voucher for the A1011 delay", "compensation"),
    ("I want to speak to a supervisor about A1016", "complaint"),
    ("Quiero un reembolso del pedido A1003", "refund"),
])
def test_each_request_or_complaint_escalates_and_names_its_topic(engine, question, topic):
    reply, record = answer(engine, question)
    assert record.next_step == "escalate"
    assert topic in record.issue
    assert topic in reply  # the reason is named in the reply too


def test_a_missing_order_and_a_lost_parcel_escalate(engine):
    assert answer(engine, "Where is A9999?")[1].next_step == "escalate"
    assert answer(engine, "Any news on A1009?")[1].next_step == "escalate"


def test_never_arrived_is_a_complaint_only_about_an_order_marked_delivered():
    delivered = [{"found": True, "order_id": "A1006", "status": "delivered"}]
    on_its_way = [{"found": True, "order_id": "A1010", "status": "in_transit"}]
    assert "not received" in out_of_scope_topics("It never arrived", delivered)
    assert out_of_scope_topics("It never arrived", on_its_way) == []
    refunded = [{"found": True, "order_id": "A1008", "status": "returned", "note": "Refund approved"}]
    assert out_of_scope_topics("Is the refund for A1008 approved?", refunded) == []
    assert out_of_scope_topics("I want a refund for A1008", refunded) == ["refund"]


def test_a_negation_reaches_only_a_few_words_and_not_across_clauses():
    assert raised_topics("I'm not asking to cancel, I want to change the address") == ["address change"]
    assert raised_topics("I don't want a refund, I want a replacement") == ["replacement"]
    assert raised_topics("If it isn't here tomorrow I'm calling my lawyer") == ["legal threat"]


def test_the_classifier_decides_only_what_the_rules_cannot_read():
    assert out_of_scope_topics("This is unacceptable, sort it out") == [OTHER_REQUEST]
    assert out_of_scope_topics("Where is it? A1013") == []  # a question the data answers
    assert out_of_scope_topics("thanks a lot") == []


@pytest.mark.parametrize("part", range(4))  # four quarters, so the workers share them
def test_the_shipped_dev_cases_score_at_least_97_percent_with_no_missed_escalation(triage_env, part):
    cases = load_cases("dev")
    assert len(cases) + len(load_cases("test")) >= 300
    cases = cases[part::4]
    results = asyncio.run(run_cases(load_settings({"provider": "offline"}), cases))
    summary = summarise(results, 1)
    wrong = {r.case.id: r.trials[0].why for r in results if not r.passed}
    assert summary["next_step_accuracy"] >= 0.97, wrong
    assert summary["missed_escalations"] == 0, wrong


def test_bad_case_files_and_bad_min_are_usage_errors_naming_the_line():
    good = '{"id": "a", "message": "Where is A1002?", "expect": {"next_step": "answer"}}'
    with pytest.raises(UsageError, match="line 2: not JSON"):
        parse_cases(good + "\n{oops\n", "cases.jsonl")
    with pytest.raises(UsageError, match='line 1: "expect"'):
        parse_cases('{"id": "a", "message": "hi", "expect": {"next_step": "maybe"}}', "cases.jsonl")
    with pytest.raises(UsageError, match="used twice"):
        parse_cases(good + "\n" + good, "cases.jsonl")
    with pytest.raises(UsageError, match="no such case file"):
        load_cases("/nonexistent/cases.jsonl")
    assert parse_min("0.9") == 0.9 and parse_min("97%") == pytest.approx(0.97) and parse_min("80") == 0.8
    for bad in ("x", "-1", "150%"):
        with pytest.raises(UsageError, match="--min"):
            parse_min(bad)


def test_misspelt_questions_are_questions_and_a_wrong_item_can_span_a_comma():
    assert out_of_scope_topics("wen wil my order arive") == []  # not sent to the classifier
    assert out_of_scope_topics("whats happning with A1004") == []
    assert raised_topics("I ordered the blue one, received a red one") == ["wrong item"]
    assert raised_topics("I ordered it on Monday, got it today, thanks") == []


@pytest.mark.parametrize("question, topic", [
    ("A man on my doorbell video picks up A1006 and walks off with it", "theft"),
    ("The A1024 sleeve came with a long tear along the seam", "damage"),
    ("A1003 turned up soaked and now it won't power on", "damage"),
    ("A1006 is meant to be on the doorstep. It isn't there", "not received"),
    ("Left with a neighbour, apparently. None of them have it. A1014", "not received"),
    ("El pedido A1021 pone entregado pero no lo he recibido", "not received"),
    ("Il pacco A1003 risulta consegnato ma non l'ho ricevuto", "not received"),
    ("Can I add a second kettle to A1023 before it goes out?", "order change"),
    ("Kann ich A1012 noch ändern?", "order change"),
])
def test_problems_and_requests_told_without_their_category_word_escalate(engine, question, topic):
    reply, record = answer(engine, question)
    assert record.next_step == "escalate", reply
    assert topic in record.issue


@pytest.mark.parametrize("question", [
    "were we refunded?",  # no order id: answered by asking for it
    "Has the refund for A1007 reached my card?",  # the data records the refund
    "Did the money for A1008 go back to my card yet?",
    "Is A1014 the one left with the neighbour at number 12?",
    "A1021 is in the locker? Where do I get the code?",
])
def test_questions_about_a_recorded_refund_or_the_data_are_answered(engine, question):
    reply, record = answer(engine, question)
    assert record.next_step == "answer", reply


def test_a_refund_state_the_data_does_not_record_and_a_refund_asked_for_still_escalate():
    delivered = [{"found": True, "order_id": "A1003", "status": "delivered"}]
    refunded = [{"found": True, "order_id": "A1007", "status": "cancelled", "note": "Refund of the full amount issued"}]
    assert out_of_scope_topics("Has my refund for A1003 gone through?", delivered) == ["refund"]
    assert out_of_scope_topics("Could you refund A1007 again?", refunded) == ["refund"]
    assert out_of_scope_topics("Is it possible to get a refund?") == ["refund"]
    assert out_of_scope_topics("has the refund been issued?") == []


@pytest.mark.parametrize("question, topic", [
    ("the headphones from A1003 only work on the left side", "damage"),  # a partial fault
    ("A1014 the kettle lid won't stay shut, and it smells of burning", "damage"),
    ("A1024 arrived but it's clearly been used before", "damage"),
    ("A1006 says delivered to the porch but there's nothing there", "not received"),
    ("A1021: the locker was empty when I opened it", "not received"),
    ("A1006 - tracking swears it's here. It's not.", "not received"),
    ("ordered 3 bottles, only 2 were in the parcel. A1021", "missing item"),
    ("A1005 arrived, mat is there, bottle isn't", "missing item"),
    ("I got a toaster for A1014?? I bought a kettle", "wrong item"),
    ("A1024 ordered grey, this is clearly navy", "wrong item"),
    ("I refused A1027 by mistake when the driver came, can you resend it?", "replacement"),
    ("A1023 scrap the order please", "cancellation"),
    ("Se l'ordine A1015 non arriva entro venerdì, voglio annullarlo.", "cancellation"),  # a condition still asks
    ("can I have what I paid for A1024 put back on my card?", "refund"),
    ("My payment for A1017 was declined but the money still left my account!", "billing"),
    ("my card statement shows two debits for A1020", "billing"),
    ("after this delay on A1002 a coupon is the least you can do", "compensation"),
    ("A1002 has been delayed twice, you owe me something", "compensation"),
    ("A1004 I haven't received an invoice for my company", "billing"),  # a negation that is the complaint
    ("A1014 how do I get a return label?", "return"),
    ("A1013 I'm away, can you keep it at the depot for a week?", "address change"),
    ("A1021 where is it?? locker empty", "not received"),
    ("A1005 — just opened it. Mat's great. No sign of the bottle though.", "missing item"),
    ("A1020 the order total doesn't match my bank statement", "billing"),  # the negation is the complaint
    ("A1016 - how long in customs, and who pays the fees? I'm not paying them", "billing"),
])
def test_euphemisms_and_indirect_requests_escalate_under_their_topic(engine, question, topic):
    reply, record = answer(engine, question)
    assert record.next_step == "escalate", reply
    assert topic in record.issue and topic in reply


@pytest.mark.parametrize("question", [
    "I was going to ask for my money back but honestly I'll wait — when do you think A1016 clears customs?",
    "I almost asked for a refund lol but when does A1020 get here?",
    "So I've never ordered from you before — could you tell me when A1020 will arrive?",
    "no complaints, just want the new date for A1011",
    "A1008 how long until the refund shows on my card?",
    "Merci beaucoup !",
    "cheers mate",
    "Hi",
    "A1014 who took it in?",
    "A1007 when will I see the refund from the cancellation?",
    "A1011 why's the carrier checking the address, is something wrong?",
    "A1018 refund?",  # the data records how the refund stands
    "A1017 why cancelled and was I charged?",
    "Hello team, I hope you're all having a lovely week and that the weather is kinder where you are than "
    "here. I ordered some board games, A1010, as a present for my nephew, and I wondered when they might "
    "arrive? Many thanks in advance for your help",  # many words, none of them a request
])
def test_requests_not_made_asides_and_thanks_in_other_languages_are_answered(engine, question):
    reply, record = answer(engine, question)
    assert record.next_step == "answer", reply


def test_a_request_not_made_takes_back_only_its_own_clause():
    assert raised_topics("I was going to ask for a refund, but now I want a replacement") == ["replacement"]


def test_where_the_rules_find_no_topic_the_classifier_leans_to_escalating(monkeypatch):
    from triage_cli.engine import intent_model

    unsure = "blorp frandle zxqv"  # words the classifier has never seen: it is unsure either way
    weights, bias, threshold, sure = intent_model._model()
    assert threshold < intent_model.probability(weights, bias, intent_model.features(unsure)) < sure
    assert out_of_scope_topics(unsure) == [OTHER_REQUEST]  # nothing the data answers: unsure escalates
    assert out_of_scope_topics(f"{unsure}, where is A1004?") == []  # a question the data answers: sure or not
    assert out_of_scope_topics(f"A1004 {unsure}, it's coming") == [OTHER_REQUEST]  # a status word asks nothing
    assert intent_model.asks_for_action(unsure) and not intent_model.asks_for_action(unsure, sure=True)

    def no_weights() -> None:
        raise OSError("not shipped")

    monkeypatch.setattr(intent_model, "_model", no_weights)
    assert out_of_scope_topics(unsure) == [OTHER_REQUEST]  # without weights a person reads what the rules cannot
    assert out_of_scope_topics(f"{unsure}, where is A1004?") == []


def test_the_classifier_weights_load_only_when_the_rules_find_no_topic():
    import subprocess
    import sys

    script = ("import sys\n"
              "from triage_cli.engine.policy import out_of_scope_topics\n"
              "assert out_of_scope_topics('I want a refund for A1003') == ['refund']\n"
              "assert 'triage_cli.engine.intent_model' not in sys.modules\n"
              "out_of_scope_topics('sort it out')\n"
              "assert 'triage_cli.engine.intent_model' in sys.modules\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


def test_thanks_with_a_named_order_keeps_that_order_in_the_record():
    from triage_cli.engine.offline import acknowledge

    reply, record = acknowledge(None, "a1004")
    assert record.order_id == "A1004" and record.next_step == "answer" and "A1004" in reply
    assert acknowledge(None)[1].order_id is None


@pytest.mark.parametrize("question", [
    "A1002 late again!!", "A1016 stuck in customs", "A1004 should have come by now", "A1012 not shipped yet, hmm",
])
def test_impatience_about_an_order_on_its_way_is_answered_from_the_data(engine, question):
    reply, record = answer(engine, question)
    assert record.next_step == "answer", reply


def test_a_statement_the_rules_cannot_read_about_a_delivered_order_goes_to_a_person():
    delivered = [{"found": True, "order_id": "A1024", "status": "delivered"}]
    on_its_way = [{"found": True, "order_id": "A1022", "status": "in_transit"}]
    assert out_of_scope_topics("blorp frandle zxqv, it's coming", delivered) == [OTHER_REQUEST]
    assert out_of_scope_topics("blorp frandle zxqv, it's coming", on_its_way) == []


@pytest.mark.parametrize("question, next_step", [
    # Asking to be told something is asking for what the data gives (a third outsider set's misses).
    ("Dear customer service, I would be grateful if you could inform me of the shipping status of order "
     "A1012. Kind regards, P. Hollis", "answer"),
    ("Thx for the quick delivery on A1014 btw! Just confirming it's marked as delivered on your side too.", "answer"),
    ("Could you let me know where A1004 is at the moment", "answer"),
    # ... but not when what they want told is an action.
    ("Please confirm you will refund A1004 today", "escalate"),
    ("let me know when the replacement for A1014 is sent", "escalate"),
    # A price cut asked for in other words.
    ("hey can you knock a bit off the price for A1005? saw it on sale today", "escalate"),
])
def test_requests_for_information_are_answered_and_requests_for_action_are_not(engine, question, next_step):
    reply, record = answer(engine, question)
    assert record.next_step == next_step, reply


def test_a_request_the_rules_cannot_name_is_quoted_in_the_reply_the_record_and_the_summary(engine):
    reply, record = answer(engine, "A1002 this is just not on, honestly, get it sorted")
    assert record.next_step == "escalate"
    assert record.issue.startswith("asks: “") and record.issue.endswith("”")
    quoted = record.issue.removeprefix("asks: “").removesuffix("”")
    assert quoted and quoted in "A1002 this is just not on, honestly, get it sorted"
    assert f"the customer asks: “{quoted}”, which the order data does not cover" in reply
    assert f"The customer asks: “{quoted}”." in record.summary
    assert "rules do not recognise" not in reply + record.issue + record.summary


def test_forwarded_lines_are_the_message_when_the_forwarder_adds_only_a_note():
    from triage_cli.engine.policy import own_words

    complaint = "FW: complaint\n\n>>> I ordered A1010 as a present and it's late. I want to speak to a manager NOW.\n\nPlease advise."
    assert "manager" in own_words(complaint) and out_of_scope_topics(complaint) != []
    carrier = "> Your parcel is delayed. We apologise for the inconvenience and will refund the fee.\nWhen will A1002 come?"
    assert own_words(carrier).strip() == "When will A1002 come?"  # a question of their own: the quote is the carrier's
