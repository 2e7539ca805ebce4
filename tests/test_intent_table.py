"""The intent table is data (engine/intents.toml, issue 23): every topic says what it means, and its
examples and counter-examples hold. A topic's examples raise it; its counter-examples, which
use its words, do not (read as about an order marked delivered, the strictest reading)."""

from __future__ import annotations

import pytest

from triage_cli.engine.intents import raised_topics, table, topics

TOPICS = topics()


def test_the_table_names_each_topic_once_and_says_what_it_means():
    names = [topic.name for topic in TOPICS]
    assert len(names) == len(set(names)) >= 15
    assert all(topic.means.strip() and topic.examples for topic in TOPICS)


@pytest.mark.parametrize("topic", TOPICS, ids=[topic.name for topic in TOPICS])
def test_each_topics_examples_raise_it(topic):
    missed = [example for example in topic.examples if topic.name not in raised_topics(example)]
    assert missed == []


@pytest.mark.parametrize("topic", TOPICS, ids=[topic.name for topic in TOPICS])
def test_each_topics_counter_examples_do_not(topic):
    raised = [example for example in topic.counter_examples if topic.name in raised_topics(example)]
    assert raised == []


def test_the_table_is_read_once_and_every_reading_pattern_compiles():
    assert table() is table()
    assert {"clause_break", "negation", "hedge", "data_question", "acknowledgement"} <= set(table().reading)


def test_importing_the_engine_compiles_no_pattern():
    """--help, chat at its prompt and a model's turn until its answer do not pay for the table."""
    import subprocess
    import sys

    probe = ("import triage_cli.engine.intents as i, triage_cli.engine.record, triage_cli.engine.agent; "
             "print(i.table.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0"


def test_lower_cased_text_finds_each_topic_where_case_ignored_does():
    """The topics are scanned in lower-cased text with their patterns as written (about twice as
    fast): the same starts as with case ignored, on shipped messages and on capitals and accents."""
    from triage_cli.eval.cases import SHIPPED, load_cases

    messages = [case.message for part in SHIPPED for case in load_cases(part)][::20]
    messages += ["PLEASE LEAVE A1005 WITH MY NEIGHBOUR", "Zu Händen von Frau Öztürk, bitte", "RÜCKERSTATTUNG für A1003!",
                 "İstanbul'a gönderin, A1004 REFUND"]
    for message in messages:
        lowered = message.lower()
        for topic in topics():
            expected = tuple(topic.matches(message))
            if len(lowered) == len(message):
                assert tuple(topic.matches(message, lowered)) == expected, (topic.name, message)
    assert all(topic.folded is not None for topic in topics() if topic.pattern)  # none names a capital
    assert all(part.folded is not None for topic in topics() for frame in topic.frames for part in frame)


def test_a_pattern_that_names_a_capital_is_not_scanned_lower_cased():
    from triage_cli.engine.intents import _case_free

    assert _case_free(r"\bzu händen\b|\W\S\D|\u00e9") and not _case_free(r"zu Händen")
    assert not _case_free(r"caf\u00C9") and not _case_free(r"\x41") and not _case_free(r"\N{LATIN CAPITAL LETTER A}")
