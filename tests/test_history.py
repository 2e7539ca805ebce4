"""Stored conversations end to end: `triage ask` and `triage chat` store every turn, `triage history`
lists, shows, exports and prunes them, `--resume` and `/resume` send them back to the model.

The real CLI runs in a subprocess or a pty (pexpect) and talks to the scripted OpenAI-compatible
server over loopback with the real openai SDK; every request the CLI sends is checked in
`server.requests`. The database is read with sqlite3 directly where the CLI's own view could
hide a problem (a turn left 'running', a half-written transaction)."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pexpect
import pytest

from cli_runner import run_in_process
from helpers import PROMPT, plain, turn, unpaired_calls
from serve_helpers import eventually
from pty_capture import run_in_pty
from scripted_server import Reply, ScriptedServer, answer, text, tools

TOOL = "get_order_status"
ASK_QUESTION = "Where is A1002?"
ASK_REPLY = "Order A1002 is a day late: weather at the DHL hub.\n\n**Next step:** answer"
STREAMED_WORDS = "word " * 600  # a long reply, streamed slowly where a test needs to cut it short


def delayed(reply: str = ASK_REPLY, **kw) -> Reply:
    return answer(reply, order_id="A1002", issue="late delivery", status="delayed", next_step="answer",
                  summary="A1002 is one day late.", **kw)


def lookup(order_id: str = "A1002") -> Reply:
    return tools((TOOL, {"order_id": order_id}))


def long_answer() -> Reply:
    return answer(STREAMED_WORDS, order_id="A1002", issue="x", status="x", next_step="answer", summary="s")


# --------------------------------------------------------------------------- helpers


def history(run_triage) -> list[dict]:
    result = run_triage("history", "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def exported(run_triage, conversation_id: int) -> dict:
    result = run_triage("history", "export", str(conversation_id), "--format", "json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def database(triage_env) -> Path:
    return Path(triage_env["TRIAGE_HOME"]) / "triage.sqlite"


def query(triage_env, sql: str, params: tuple = ()) -> list[tuple]:
    db = sqlite3.connect(database(triage_env))
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def running_turns(triage_env) -> int:
    """How many turns are stored as running right now (0 before the database is in WAL mode: a
    reader then could stand in the way of the switch)."""
    try:
        with database(triage_env).open("rb") as file:
            header = file.read(20)
    except FileNotFoundError:
        return 0
    if len(header) < 20 or header[18] != 2:  # the file format versions are 2 in WAL mode
        return 0
    try:
        return query(triage_env, "SELECT count(*) FROM turns WHERE state = 'running'")[0][0]
    except sqlite3.OperationalError:  # not migrated yet
        return 0


def roles(messages: list[dict]) -> list[str]:
    return [m["role"] for m in messages]


def assert_holds_the_lookup_turn(messages: list[dict], question: str = ASK_QUESTION, reply: str = ASK_REPLY) -> None:
    """messages[0:4] are a stored turn with one lookup: the question, the call, its result, the answer."""
    user, call, result, answered = messages[:4]
    assert user == {"role": "user", "content": question}
    assert call["role"] == "assistant" and [c["function"]["name"] for c in call["tool_calls"]] == [TOOL]
    assert json.loads(call["tool_calls"][0]["function"]["arguments"]) == {"order_id": "A1002"}
    assert result["role"] == "tool" and result["tool_call_id"] == call["tool_calls"][0]["id"]
    assert json.loads(result["content"])["status"] == "delayed"
    assert answered == {"role": "assistant", "content": reply}


def assert_one_line_error(result, *words: str) -> None:
    assert result.code == 2, f"exit {result.code}\nstdout:\n{result.out}\nstderr:\n{result.err}"
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.err
    assert "Traceback" not in result.err and result.out == ""
    for word in words:
        assert word in lines[0]


def leave(child: pexpect.spawn) -> None:
    """Ctrl-D at the prompt; the process must end with status 0 (its last turn is stored by then)."""
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and child.signalstatus is None


def command(child: pexpect.spawn, line: str, expected: str) -> str:
    child.sendline(line)
    child.expect(expected)
    seen = child.before + child.after
    child.expect(PROMPT)
    return plain(seen + child.before)


# --------------------------------------------------------------------------- list, show, export


def test_ask_and_chat_are_listed_with_their_questions_and_records_and_render_as_markdown_and_json(
        run_triage, spawn_chat, server, model_env):
    server.add(
        lookup("A1002"), delayed(),  # triage ask
        lookup("A1003"),  # triage chat, first question
        answer("A1003 was delivered yesterday at 14:02.\n\n**Next step:** answer", order_id="A1003",
               issue="where is it", status="delivered", next_step="answer", summary="Delivered yesterday."),
        answer("Refunds need the returns team.\n\n**Next step:** escalate: refunds are out of scope.",
               order_id="A1003", issue="refund", status="delivered", next_step="escalate",
               summary="Customer wants a refund for A1003."),
    )
    asked = run_triage("ask", ASK_QUESTION, env=model_env)
    assert asked.code == 0, asked.err
    child = spawn_chat(model_env)
    turn(child, "Is A1003 delivered?", "14:02")
    turn(child, "Can I get a refund for A1003?", "returns team")
    leave(child)

    listed = history(run_triage)

    assert [c["source"] for c in listed] == ["chat", "ask"]  # the most recently active first
    chat, ask = listed
    assert ask["first_question"] == ASK_QUESTION and ask["order_ids"] == ["A1002"]
    assert [(t["question"], t["state"], t["triage"]["next_step"]) for t in ask["turns"]] == [
        (ASK_QUESTION, "complete", "answer")]
    assert chat["first_question"] == "Is A1003 delivered?" and chat["order_ids"] == ["A1003"]
    assert [(t["question"], t["state"], t["triage"]["next_step"]) for t in chat["turns"]] == [
        ("Is A1003 delivered?", "complete", "answer"), ("Can I get a refund for A1003?", "complete", "escalate")]
    assert chat["next_step"] == "escalate" and chat["turns"][1]["triage"]["ticket"] == 1
    assert "messages" not in chat["turns"][0]  # the list is a summary

    shown = run_triage("history", "show", str(chat["id"]))  # piped: the Markdown transcript
    assert shown.code == 0, shown.err
    assert shown.out == run_triage("history", "export", str(chat["id"]), "--format", "md").out
    md = shown.out
    assert md.startswith(f"# Conversation {chat['id']}\n")
    assert "> Is A1003 delivered?" in md and "> Can I get a refund for A1003?" in md
    # Stored dated: "yesterday" as said that day would be wrong when read later.
    assert re.search(r"A1003 was delivered \w{3} \d\d \w{3} at 14:02\.", md) and "Refunds need the returns team." in md
    assert "yesterday" not in md.split("**Reply**", 1)[1]
    assert f'`{TOOL}(order_id="A1003")` → delivered' in md
    assert "- Next step: escalate" in md and "- Ticket: #1 (open)" in md and "- Next step: answer" in md
    assert md.index("Is A1003 delivered?") < md.index("14:02") < md.index("Can I get a refund") < md.index("returns team")

    ask_md = run_triage("history", "export", str(ask["id"]), "--format", "md").out
    assert "> Where is A1002?" in ask_md and "Order A1002 is a day late" in ask_md
    assert f'`{TOOL}(order_id="A1002")` → delayed' in ask_md and "- Summary: A1002 is one day late." in ask_md

    full = exported(run_triage, ask["id"])
    [stored] = full["turns"]
    assert stored["reply"] == ASK_REPLY and stored["state"] == "complete"
    assert roles(stored["messages"]) == ["user", "assistant", "tool", "assistant"]
    assert_holds_the_lookup_turn(stored["messages"])
    [call] = stored["tool_calls"]
    assert call["name"] == TOOL and call["ok"] is True and json.loads(call["result"])["order_id"] == "A1002"
    assert stored["usage"]["model_calls"] == 2
    chat_full = exported(run_triage, chat["id"])
    assert [roles(t["messages"]) for t in chat_full["turns"]] == [
        ["user", "assistant", "tool", "assistant"], ["user", "assistant"]]
    assert unpaired_calls([m for t in chat_full["turns"] for m in t["messages"]]) == []


# --------------------------------------------------------------------------- resume


def test_chat_resume_without_an_id_continues_the_latest_conversation_with_its_whole_context(
        run_triage, spawn_chat, server, model_env):
    server.add(lookup(), delayed(), delayed("Tomorrow, one day late.\n\n**Next step:** answer"))
    assert run_triage("ask", ASK_QUESTION, env=model_env).code == 0

    child = spawn_chat(model_env, "--resume")
    assert "resumed conversation 1" in plain(child.before)
    turn(child, "When will it arrive?", "one day late")
    leave(child)

    sent = server.requests[2]["messages"]
    assert roles(sent) == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert_holds_the_lookup_turn(sent[1:5])
    assert sent[5]["content"].endswith("When will it arrive?")
    [conversation] = history(run_triage)  # the turn went to the resumed conversation, not a new one
    # The words as typed; no order named: the resumed context (its last record, A1002) carries it.
    assert [(t["question"], t["order"]) for t in conversation["turns"]] == [
        (ASK_QUESTION, None), ("When will it arrive?", None)]


def test_chat_resume_with_an_id_continues_that_conversation_and_not_the_latest(
        run_triage, spawn_chat, server, model_env):
    server.add(lookup(), delayed(), text("Other answer about B2001."), delayed("Tomorrow, one day late."))
    assert run_triage("ask", ASK_QUESTION, env=model_env).code == 0
    assert run_triage("ask", "Something else about B2001", env={**model_env, "TRIAGE_STRUCTURED_OUTPUT": "off"}).code == 0

    child = spawn_chat(model_env, "--resume", "1")
    assert "resumed conversation 1" in plain(child.before)
    turn(child, "When will it arrive?", "one day late")
    leave(child)

    sent = server.requests[3]["messages"]
    assert roles(sent) == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert_holds_the_lookup_turn(sent[1:5])
    assert "B2001" not in json.dumps(sent)
    turns = {c["id"]: len(c["turns"]) for c in history(run_triage)}
    assert turns == {1: 2, 2: 1}


def test_ask_resume_sends_the_stored_turns_and_adds_the_turn_to_the_same_conversation(run_triage, server, model_env):
    server.add(lookup(), delayed(), delayed("Tomorrow, one day late."))
    assert run_triage("ask", ASK_QUESTION, env=model_env).code == 0

    result = run_triage("ask", "--resume", "1", "And when will it arrive?", env=model_env)

    assert result.code == 0, result.err
    assert "Tomorrow, one day late." in result.out
    sent = server.requests[2]["messages"]
    assert roles(sent) == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert_holds_the_lookup_turn(sent[1:5])
    assert sent[5] == {"role": "user", "content": "And when will it arrive?"}
    [conversation] = history(run_triage)
    assert conversation["id"] == 1 and conversation["source"] == "ask"
    assert [(t["number"], t["question"], t["state"]) for t in conversation["turns"]] == [
        (1, ASK_QUESTION, "complete"), (2, "And when will it arrive?", "complete")]


def test_ask_continue_goes_on_with_the_latest_conversation_and_refuses_resume_beside_it(run_triage):
    assert run_triage("ask", "Where is A1002?").code == 0  # offline
    assert run_triage("ask", "Where is A1005?").code == 0

    continued = run_triage("ask", "-c", "thanks!")

    assert continued.code == 0, continued.err
    assert continued.out.startswith("You're welcome — anything else about A1005?")  # the latest's order
    assert [(c["id"], len(c["turns"])) for c in history(run_triage)] == [(2, 2), (1, 1)]
    both = run_triage("ask", "--continue", "--resume", "1", "thanks")
    assert both.code == 2 and both.err == "error: use --continue or --resume ID, not both\n"


# --------------------------------------------------------------------------- several processes


def test_two_asks_answering_at_the_same_time_are_both_stored_complete(run_triage, triage_env, model_env):
    reply = "Order A1002 is a day late because of the weather. " * 3 + "\n\n**Next step:** answer"
    both_asked = threading.Barrier(2)

    def script(body: dict, index: int) -> Reply:
        both_asked.wait(timeout=20)  # neither answer starts before both processes have asked
        return delayed(reply)

    with ScriptedServer(script, tokens_per_second=50, chunk_chars=4) as srv:
        env = {**triage_env, **model_env, "OPENAI_BASE_URL": srv.base_url}
        questions = ["Where is A1002? (first)", "Where is A1002? (second)"]
        procs = [subprocess.Popen([sys.executable, "-m", "triage_cli", "ask", q], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for q in questions]
        try:
            # Both turns are in the store as running at once, streaming (about 1.5 s) side by side.
            eventually(lambda: running_turns(triage_env) == 2, "both turns to be running")
            outputs = [p.communicate(timeout=30) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    assert [p.returncode for p in procs] == [0, 0], [err.decode() for _, err in outputs]
    assert all(b"a day late" in out for out, _ in outputs)

    rows = query(triage_env, "SELECT c.id, c.title, t.state, t.partial FROM conversations c"
                             " JOIN turns t ON t.conversation_id = c.id ORDER BY c.title")
    assert [(title, state) for _, title, state, _ in rows] == [(questions[0], "complete"), (questions[1], "complete")]
    assert rows[0][0] != rows[1][0]
    assert all(partial == reply for *_, partial in rows)
    for conversation in history(run_triage):
        [stored] = conversation["turns"]
        assert stored["state"] == "complete" and stored["triage"]["next_step"] == "answer"
    assert query(triage_env, "PRAGMA integrity_check") == [("ok",)]


# --------------------------------------------------------------------------- a killed process


def test_a_chat_killed_mid_answer_keeps_every_earlier_turn_and_its_partial_reply_and_resumes_cleanly(
        run_triage, spawn_chat, triage_env, model_env):
    with ScriptedServer([lookup(), delayed(), lookup(), long_answer()], chunk_chars=4) as srv:
        # A short lease: the killed chat's turn is taken for abandoned two seconds after its last
        # heartbeat (no process id is looked at), not thirty.
        env = {**model_env, "OPENAI_BASE_URL": srv.base_url, "TRIAGE_TURN_LEASE_SECONDS": "2"}
        child = spawn_chat(env)
        turn(child, ASK_QUESTION, "DHL hub")
        srv.tokens_per_second = 40  # the second answer streams slowly
        child.sendline("Tell me everything about A1002")
        child.expect("word word word")

        def saved_partial() -> str:
            rows = query(triage_env, "SELECT partial FROM turns WHERE number = 2 AND state = 'running'")
            return rows[0][0] if rows and rows[0][0] else ""

        partial = eventually(saved_partial, "the partial reply to be saved")  # saved about a second into the answer
        os.kill(child.pid, signal.SIGKILL)
        child.expect(pexpect.EOF)
        child.close()  # reaped: its pid is gone
        assert child.signalstatus == signal.SIGKILL

    assert query(triage_env, "PRAGMA integrity_check") == [("ok",)]
    [(state, raw_partial)] = query(triage_env, "SELECT state, partial FROM turns WHERE number = 2")
    assert state == "running" and raw_partial.startswith(partial)  # never marked complete
    assert STREAMED_WORDS.startswith(raw_partial) and raw_partial != STREAMED_WORDS

    # Running while its lease lives, interrupted for everyone once it has lapsed.
    [listed] = eventually(lambda: [c for c in history(run_triage) if c["turns"][-1]["state"] == "interrupted"],
                          "the killed turn to read interrupted")
    assert [t["state"] for t in listed["turns"]] == ["complete", "interrupted"]
    first, killed = exported(run_triage, listed["id"])["turns"]
    assert first["state"] == "complete" and first["reply"] == ASK_REPLY
    assert first["triage"]["next_step"] == "answer"
    assert_holds_the_lookup_turn(first["messages"])
    assert killed["state"] == "interrupted" and killed["error"] == "the process ended mid-answer"
    assert killed["reply"] == raw_partial.rstrip() + "\n\n[interrupted]"
    assert killed["triage"] is None and killed["finished_at"] is None

    with ScriptedServer([delayed("Still a day late.")]) as srv:
        result = run_triage("ask", "--resume", str(listed["id"]), "Is it there yet?",
                            env={**model_env, "OPENAI_BASE_URL": srv.base_url})
        assert result.code == 0, result.err
        sent = srv.requests[0]["messages"]
    assert roles(sent) == ["system", "user", "assistant", "tool", "assistant", "user", "assistant", "user"]
    assert_holds_the_lookup_turn(sent[1:5])
    assert sent[5]["content"] == "Tell me everything about A1002"
    assert sent[6] == {"role": "assistant", "content": raw_partial.rstrip() + "\n\n[interrupted]"}
    assert unpaired_calls(sent) == []
    assert [t["state"] for t in history(run_triage)[0]["turns"]] == ["complete", "interrupted", "complete"]


# --------------------------------------------------------------------------- migrations


SCHEMA_1 = (  # the tickets table as migration 1 created it, in databases already on disk
    """CREATE TABLE tickets (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at   TEXT NOT NULL,            -- ISO 8601, UTC
        order_id     TEXT,
        issue        TEXT NOT NULL,
        order_status TEXT NOT NULL,
        summary      TEXT NOT NULL,
        question     TEXT NOT NULL,
        reply        TEXT NOT NULL,
        status       TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
        closed_at    TEXT,
        note         TEXT
    )""",
    "CREATE INDEX tickets_by_status ON tickets (status, id)",
)


def test_a_version_1_database_is_migrated_by_the_cli_and_keeps_its_tickets(run_triage, triage_env):
    from triage_cli.store.database import MIGRATIONS

    path = database(triage_env)
    path.parent.mkdir(parents=True)
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("PRAGMA journal_mode = WAL")
    for statement in SCHEMA_1:
        old.execute(statement)
    old.execute("INSERT INTO tickets (created_at, order_id, issue, order_status, summary, question, reply)"
                " VALUES ('2025-01-02T03:04:05+00:00', 'A9999', 'not found', 'not found', 'old ticket', 'q', 'r')")
    old.execute("PRAGMA user_version = 1")
    old.close()

    result = run_triage("ask", "--order", "A1002", "where is it")

    assert result.code == 0, result.err
    assert "delayed" in result.out
    assert query(triage_env, "PRAGMA user_version") == [(len(MIGRATIONS),)]
    assert query(triage_env, "SELECT id, order_id, summary, status FROM tickets") == [(1, "A9999", "old ticket", "open")]
    [conversation] = history(run_triage)
    assert conversation["first_question"] == "where is it" and conversation["order_ids"] == ["A1002"]
    assert conversation["turns"][0]["order"] == "A1002"
    assert conversation["turns"][0]["state"] == "complete"
    assert run_triage("tickets", "--json", "--status", "all").out.count('"id":') == 1
    assert query(triage_env, "PRAGMA integrity_check") == [("ok",)]
    assert query(triage_env, "PRAGMA foreign_key_check") == []


# --------------------------------------------------------------------------- interrupted turns


def test_ctrl_c_mid_answer_stores_the_turn_as_interrupted_with_its_partial_and_resume_sends_the_mark(
        run_triage, spawn_chat, triage_env, model_env):
    with ScriptedServer([long_answer(), delayed("A1002 is a day late.")], tokens_per_second=200,
                        chunk_chars=5) as srv:
        child = spawn_chat({**model_env, "OPENAI_BASE_URL": srv.base_url})
        child.sendline("Tell me everything about A1002")
        child.expect("word word word")
        child.sendintr()
        child.expect(r"\[interrupted\]")
        child.expect(PROMPT)
        command(child, "/new", "new conversation")
        command(child, "/resume 1", "resumed conversation 1")
        turn(child, "And now?", "a day late")
        leave(child)
        sent = srv.requests[1]["messages"]

    [(state, partial, error)] = query(triage_env, "SELECT state, partial, error FROM turns WHERE number = 1")
    assert state == "interrupted" and error == "interrupted"
    assert partial.startswith("word word word") and STREAMED_WORDS.startswith(partial) and partial != STREAMED_WORDS
    [stored, after] = exported(run_triage, 1)["turns"]
    assert stored["state"] == "interrupted" and stored["reply"] == partial.rstrip() + "\n\n[interrupted]"
    assert stored["messages"][-1] == {"role": "assistant", "content": stored["reply"]}
    assert after["state"] == "complete"
    # /new dropped the context; /resume brought it back from the store, mark and all.
    assert roles(sent) == ["system", "user", "assistant", "user"]
    assert sent[1] == {"role": "user", "content": "Tell me everything about A1002"}
    assert sent[2] == {"role": "assistant", "content": partial.rstrip() + "\n\n[interrupted]"}


def test_a_stream_dropped_mid_answer_exits_1_and_is_stored_interrupted_with_the_error(run_triage, server, model_env):
    words = "Order A1002 is delayed by weather at the hub; the carrier expects it tomorrow morning."
    server.add(lookup(), text(words, drop_after=6))

    result = run_triage("ask", ASK_QUESTION, env={**model_env, "TRIAGE_STRUCTURED_OUTPUT": "off"})

    assert result.code == 1
    assert "error:" in result.err and "cut off" in result.err and "Traceback" not in result.err
    assert server.drops == 1
    shown = result.out.strip()
    assert shown and words.startswith(shown) and shown != words
    [stored] = exported(run_triage, 1)["turns"]
    assert stored["state"] == "interrupted" and "cut off" in stored["error"]
    assert stored["reply"] == shown + "\n\n[interrupted]"
    assert roles(stored["messages"]) == ["user", "assistant", "tool", "assistant"]  # the lookup round is kept
    assert unpaired_calls(stored["messages"]) == []
    assert history(run_triage)[0]["turns"][0]["state"] == "interrupted"


# --------------------------------------------------------------------------- terminal safety

NASTY_REPLY = "Order A1002 \x1b[2Jis late.\x1b]52;c;aGk=\x07 Sorry\x9b31m about that.\n\n**Next step:** answer"
NASTY_QUESTION = "Where is A1002? \x1b]0;owned\x07\x1b[31mred"
RAW_CONTROLS = ("\x1b", "\x07", "\x9b")


def test_escape_sequences_from_the_model_are_stored_but_never_printed_raw_by_show_or_export(
        run_triage, server, model_env, triage_env):
    server.add(answer(NASTY_REPLY, order_id="A1002", issue="late\x1b[8m", status="delayed", next_step="answer",
                      summary="Late.\x1b]52;c;aGk=\x07"))
    assert run_triage("ask", NASTY_QUESTION, env=model_env).code == 0

    for args in (("history", "show", "1"), ("history", "export", "1", "--format", "md"), ("history", "--json"),
                 ("history",)):
        result = run_triage(*args)
        assert result.code == 0, result.err
        for control in RAW_CONTROLS:
            assert control not in result.out, f"{args} printed {control!r}"
        assert "aGk=" not in result.out or args == ("history", "--json")
    md = run_triage("history", "export", "1", "--format", "md").out
    assert "Sorry" in md and "about that." in md and "> Where is A1002?" in md

    raw = run_triage("history", "export", "1", "--format", "json").out
    for control in RAW_CONTROLS:
        assert control not in raw
    assert "\\u001b[2J" in raw and "\\u0007" in raw and "\\u009b" in raw
    [stored] = json.loads(raw)["turns"]
    assert stored["reply"] == NASTY_REPLY and stored["question"] == NASTY_QUESTION  # kept as they came

    _, _, screen = run_in_pty(["history", "show", "1"], {**triage_env, "NO_COLOR": "1"}, rows=40, columns=120)
    shown = screen.decode("utf-8", "replace")
    for sequence in ("\x1b[2J", "\x1b]52", "\x1b]0;", "\x07", "\x9b", "\x1b[8m", "aGk="):
        assert sequence not in shown, f"history show in a terminal printed {sequence!r}"
    assert "Sorry" in plain(shown) and "A1002" in plain(shown)


# --------------------------------------------------------------------------- secrets

SECRET = "sk-test-DO-NOT-STORE-1234567890"


def test_the_api_key_is_never_written_to_the_data_directory_or_the_exports(
        run_triage, spawn_chat, server, triage_env):
    env = {"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": server.base_url}
    server.add(lookup(), delayed(), lookup(), delayed("A1002 is still a day late."))
    assert run_triage("ask", ASK_QUESTION, env=env).code == 0
    child = spawn_chat(env)
    turn(child, "And A1002 again?", "still a day late")
    leave(child)

    home = Path(triage_env["TRIAGE_HOME"])
    files = [p for p in home.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"triage.sqlite", "chat_history"}
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), f"the key is in {path.name}"
    for conversation in (1, 2):
        for fmt in ("md", "json"):
            result = run_triage("history", "export", str(conversation), "--format", fmt)
            assert result.code == 0 and "A1002" in result.out and SECRET not in result.out
    assert len(server.requests) == 4  # the key did reach the model: it was there to leak


def test_a_key_the_customer_pastes_or_the_model_repeats_is_not_stored_either(
        run_triage, spawn_chat, server, triage_env):
    env = {"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": server.base_url}
    server.add(delayed(f"Never share keys like {SECRET} here.\n\n**Next step:** answer"))
    child = spawn_chat(env)
    turn(child, f"A1002 my key is {SECRET} ok?", "Never share")
    leave(child)

    home = Path(triage_env["TRIAGE_HOME"])
    for path in (p for p in home.rglob("*") if p.is_file()):
        assert SECRET.encode() not in path.read_bytes(), f"the key is in {path.name}"
    [stored] = exported(run_triage, 1)["turns"]
    assert "A1002 my key is" in stored["question"] and SECRET not in json.dumps(stored)


# --------------------------------------------------------------------------- prune


def test_prune_deletes_old_conversations_with_their_turns_and_messages_and_keeps_recent_ones_and_tickets(
        run_triage, triage_env):
    for question in ("Where is A1002?", "A9999 never arrived", "Where is A1003?"):  # offline; A9999 escalates
        assert run_triage("ask", question).code == 0
    old = (1, 2)
    query_and_commit(triage_env, "UPDATE conversations SET updated_at = '2020-01-01T00:00:00+00:00'"
                                 " WHERE id IN (1, 2)")
    old_turns = [r[0] for r in query(triage_env, "SELECT id FROM turns WHERE conversation_id IN (1, 2)")]
    assert len(old_turns) == 2 and query(triage_env, "SELECT count(*) FROM messages WHERE turn_id IN (?, ?)",
                                         tuple(old_turns))[0][0] > 0

    result = run_triage("history", "prune", "--older-than", "30d", "--yes")  # not a terminal: --yes needed

    assert result.code == 0, result.err
    assert "Deleted 2 conversations" in result.out
    assert [c["id"] for c in history(run_triage)] == [3]
    for table in ("turns", "conversation_orders"):
        assert query(triage_env, f"SELECT count(*) FROM {table} WHERE conversation_id IN (?, ?)", old) == [(0,)]
    assert query(triage_env, "SELECT count(*) FROM messages WHERE turn_id IN (?, ?)", tuple(old_turns)) == [(0,)]
    assert query(triage_env, "SELECT count(*) FROM messages") != [(0,)]  # conversation 3's are kept
    assert query(triage_env, "SELECT order_id FROM tickets") == [("A9999",)]
    assert query(triage_env, "PRAGMA foreign_key_check") == []
    again = run_triage("history", "prune", "--older-than", "1w")
    assert again.code == 0 and "Deleted 0 conversations" in again.out
    assert [c["id"] for c in history(run_triage)] == [3]


def query_and_commit(triage_env, sql: str) -> None:
    db = sqlite3.connect(database(triage_env))
    try:
        with db:
            db.execute(sql)
    finally:
        db.close()


@pytest.mark.parametrize("age", ["soon", "30x", "", "-5d", "30 days", "1.5h", "0d", "999999w"])
def test_prune_with_a_bad_age_is_one_line_and_exit_2(run_triage, age):
    assert_one_line_error(run_triage("history", "prune", "--older-than", age), "--older-than")


def test_prune_without_older_than_exits_2_and_deletes_nothing(run_triage, triage_env):
    assert run_triage("ask", "Where is A1002?").code == 0
    result = run_triage("history", "prune")
    assert result.code == 2 and "--older-than" in result.err and "Traceback" not in result.err
    assert len(history(run_triage)) == 1


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("args, words", [
    (("history", "show", "999"), ("no conversation 999",)),
    (("history", "show", "abc"), ("conversation id", "abc")),
    (("history", "export", "abc", "--format", "json"), ("conversation id",)),
    (("history", "export", "1", "--format", "pdf"), ("--format", "pdf")),
    (("history", "export", "--format", "pdf"), ("--format",)),
    (("history", "export", "999", "--format", "json"), ("no conversation 999",)),
    (("ask", "--resume", "999", "x"), ("no conversation 999",)),
    (("ask", "--resume", "abc", "x"), ("conversation id",)),
])
def test_bad_and_unknown_conversation_ids_and_formats_are_one_line_and_exit_2(run_triage, args, words):
    assert_one_line_error(run_triage(*args), *words)


@pytest.mark.parametrize("args", [("history", "show"), ("ask", "--resume", "last", "x")])
def test_the_latest_conversation_when_none_is_stored_is_one_line_and_exit_2(run_triage, args):
    assert_one_line_error(run_triage(*args), "no stored conversations")


@pytest.mark.parametrize("args, words", [(("--resume",), "no stored conversations"),
                                         (("--resume", "7"), "no conversation 7"),
                                         (("--resume", "x7"), "conversation id")])
def test_chat_resume_of_nothing_is_one_line_and_exit_2_before_the_prompt(triage_env, args, words):
    child = pexpect.spawn(sys.executable, ["-m", "triage_cli", "chat", *args], env={**triage_env, "NO_COLOR": "1"},
                          encoding="utf-8", timeout=20, dimensions=(40, 120))
    child.expect(pexpect.EOF)
    child.close()
    output = plain(child.before).strip()
    assert child.exitstatus == 2, output
    assert output.splitlines() == [output] and output.startswith("error:") and words in output
    assert PROMPT not in output and "Traceback" not in output


def assert_answered_but_not_saved(result) -> None:
    assert result.code == 0, f"exit {result.code}\nstdout:\n{result.out}\nstderr:\n{result.err}"
    assert "A1002" in result.out and "delayed" in result.out
    assert "not being saved" in result.err or "not saved" in result.err
    assert "Traceback" not in result.err


def test_an_unusable_conversation_store_still_answers_with_a_note_that_nothing_was_saved(run_triage, tmp_path):
    from triage_cli.store.orders import OrderStore

    orders = OrderStore.demo(tmp_path / "orders-home").path  # the order data itself is fine
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")

    result = run_triage("ask", "--order", "A1002", "x", env={"TRIAGE_HOME": str(blocked), "TRIAGE_ORDERS_DB": str(orders)})

    assert_answered_but_not_saved(result)
    assert blocked.read_text() == "not a directory"


def test_a_data_directory_that_is_a_file_still_answers_with_a_note_that_nothing_was_saved(run_triage, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")

    result = run_triage("ask", "--order", "A1002", "x", env={"TRIAGE_HOME": str(blocked)})

    assert_answered_but_not_saved(result)
    assert blocked.read_text() == "not a directory"


# --------------------------------------------------------------------------- the REPL


def test_repl_history_marks_the_current_conversation_and_resume_switches_the_context(
        run_triage, spawn_chat, server, model_env):
    server.add(lookup(), delayed(), text("About B2001: shipped."), text("Chat answer about A1003."),
               text("Tomorrow, one day late."))
    assert run_triage("ask", ASK_QUESTION, env=model_env).code == 0
    assert run_triage("ask", "Something about B2001", env={**model_env, "TRIAGE_STRUCTURED_OUTPUT": "off"}).code == 0
    child = spawn_chat({**model_env, "TRIAGE_STRUCTURED_OUTPUT": "off"})
    turn(child, "What about A1003?", "Chat answer about")

    listed = command(child, "/history", "Where is A1002")
    marks = {int(m[2]): m[1] for m in re.finditer(r"^([ *])\s*(\d+)\s+\d{4}-\d\d-\d\d", listed, re.M)}
    assert marks == {3: "*", 2: " ", 1: " "}, listed

    resumed = command(child, "/resume 1", "resumed conversation 1")
    assert "Where is A1002?" in resumed  # the recap of its questions
    turn(child, "When will it arrive?", "one day late")
    sent = server.requests[4]["messages"]
    assert roles(sent) == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert_holds_the_lookup_turn(sent[1:5])
    assert "A1003" not in json.dumps(sent) and "B2001" not in json.dumps(sent)

    listed = command(child, "/history", "What about A1003")
    marks = {int(m[2]): m[1] for m in re.finditer(r"^([ *])\s*(\d+)\s+\d{4}-\d\d-\d\d", listed, re.M)}
    assert marks == {1: "*", 3: " ", 2: " "}, listed
    leave(child)
    assert {c["id"]: len(c["turns"]) for c in history(run_triage)} == {1: 2, 2: 1, 3: 1}


# --------------------------------------------------------------------------- hang-ups, prunes, .env keys


def test_sigterm_mid_answer_stores_the_turn_as_interrupted_and_exits_143(triage_env, model_env):
    with ScriptedServer([lookup(), long_answer()], tokens_per_second=60) as srv:
        env = {**triage_env, **model_env, "OPENAI_BASE_URL": srv.base_url}
        child = subprocess.Popen([sys.executable, "-m", "triage_cli", "ask", "--plain", ASK_QUESTION], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Some of the reply has streamed (and been saved): waited for, not guessed with a sleep.
        eventually(lambda: running_turns(triage_env) and query(triage_env, "SELECT partial FROM turns")[0][0],
                   "some of the reply to be saved")
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=15)
    assert child.returncode == 128 + signal.SIGTERM, err.decode()
    assert err.decode().splitlines()[-1] == "error: terminated (SIGTERM); the partial answer is stored as interrupted"
    [(state, error, partial)] = query(triage_env, "SELECT state, error, partial FROM turns")
    assert (state, error) == ("interrupted", "interrupted")
    assert partial and STREAMED_WORDS.startswith(partial) and partial in out.decode()
    [stored] = exported_latest(triage_env)["turns"]
    assert roles(stored["messages"]) == ["user", "assistant", "tool", "assistant"]
    assert stored["messages"][-1]["content"].endswith("[interrupted]") and unpaired_calls(stored["messages"]) == []


def test_closing_the_terminal_mid_answer_in_chat_stores_the_turn_as_interrupted_without_a_traceback(
        spawn_chat, triage_env, model_env, tmp_path):
    with ScriptedServer([lookup(), long_answer()], tokens_per_second=60) as srv:
        child = spawn_chat({**model_env, "OPENAI_BASE_URL": srv.base_url})
        child.sendline(ASK_QUESTION)
        child.expect("word word word")
        os.kill(child.pid, signal.SIGHUP)
        child.expect(pexpect.EOF, timeout=15)
        child.close()
    assert child.exitstatus == 128 + signal.SIGHUP, child.before
    assert "Traceback" not in plain(child.before)
    [(state, partial)] = query(triage_env, "SELECT state, partial FROM turns")
    assert state == "interrupted" and STREAMED_WORDS.startswith(partial)


def test_a_conversation_pruned_while_chat_is_open_continues_as_a_new_stored_conversation(
        spawn_chat, run_triage, model_env, monkeypatch):
    from triage_cli.ui import history_view

    later = history_view.clock() + timedelta(hours=2)
    monkeypatch.setattr(history_view, "clock", lambda: later)  # prune runs in this process, two hours on
    with ScriptedServer([lookup(), delayed(), delayed("Second answer.")]) as srv:
        child = spawn_chat({**model_env, "OPENAI_BASE_URL": srv.base_url})
        turn(child, ASK_QUESTION, "DHL hub")
        pruned = run_triage("history", "prune", "--older-than", "1h", "--yes")  # not a terminal: --yes needed
        assert pruned.code == 0 and "Deleted 1 conversation" in pruned.out, pruned.err
        seen = turn(child, "And now?", "Second answer.")  # the notice is printed under the answer
        leave(child)
    assert "was deleted" in " ".join(seen.split())
    [conversation] = history(run_triage)
    assert [t["question"] for t in conversation["turns"]] == ["And now?"]
    assert conversation["turns"][0]["state"] == "complete"


def test_a_key_in_the_dotenv_file_is_never_stored_even_when_not_in_use(run_triage, triage_env):
    secret = "gsk-DOTENV-SECRET-0123456789"
    (Path.cwd() / ".env").write_text(f"GROQ_API_KEY={secret}\n")
    result = run_triage("ask", "--provider", "offline", "--order", "A1002", f"my groq key is {secret}, is it late?")
    assert result.code == 0, result.err
    stored = b"".join(p.read_bytes() for p in Path(triage_env["TRIAGE_HOME"]).iterdir() if p.is_file())
    assert secret.encode() not in stored
    assert "[redacted]" in run_triage("history", "export", "--format", "json").out


def exported_latest(triage_env) -> dict:
    result = run_in_process(("history", "export", "--format", "json"), b"", triage_env)
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_show_and_export_give_the_tickets_state_now_not_when_the_answer_was_stored(run_triage, triage_env):
    assert run_triage("ask", "A9999 never arrived").code == 0  # offline: escalates, files ticket 1
    assert run_triage("tickets", "close", "1").code == 0

    shown = run_triage("history", "show", "1")
    assert shown.code == 0, shown.err
    assert "Ticket: #1 (closed)" in shown.out and "(open)" not in shown.out
    [turn] = exported(run_triage, 1)["turns"]
    assert turn["triage"]["ticket"] == 1 and turn["triage"]["ticket_state"] == "closed"

    # On a terminal the stored turn is drawn again through the live view, from these events.
    from triage_cli.session.records import LocalRecords
    from triage_cli.ui.history_view import replay
    from triage_cli.ui.render import record_lines

    stored, states = LocalRecords(Path(triage_env["TRIAGE_HOME"])).conversation("1")
    [record] = [e for e in replay(stored.turns[0], states) if hasattr(e, "next_step")]
    assert ("Ticket", "#1 (closed)") in record_lines(record)


def test_history_delete_asks_on_a_terminal_and_a_script_or_yes_deletes_at_once(run_triage, triage_env):
    for question in ("Where is A1002?", "Where is A1003?", "Where is A1005?"):
        assert run_triage("ask", question).code == 0

    def on_a_terminal(*args: str) -> tuple[str, int]:
        child = pexpect.spawn(sys.executable, ["-m", "triage_cli", "history", "delete", *args], env=triage_env,
                              encoding="utf-8", timeout=60, dimensions=(24, 120))
        child.expect(r"Delete conversation 1 \(Where is A1002\?\)\? Its tickets stay\. \[y/N\] ")
        child.sendline("n")
        child.expect(pexpect.EOF)
        child.close()
        return child.before, child.exitstatus

    said, code = on_a_terminal("1")
    assert "Nothing deleted." in said and code == 1
    assert [c["id"] for c in history(run_triage)] == [3, 2, 1]

    answered_yes = pexpect.spawn(sys.executable, ["-m", "triage_cli", "history", "delete", "1"], env=triage_env,
                                 encoding="utf-8", timeout=60)
    answered_yes.expect(r"\[y/N\] ")
    answered_yes.sendline("y")
    answered_yes.expect(pexpect.EOF)
    answered_yes.close()
    assert answered_yes.exitstatus == 0 and "Deleted conversation 1" in answered_yes.before

    assert run_triage("history", "delete", "2").out.startswith("Deleted conversation 2")  # a script: the id is enough
    without_asking = pexpect.spawn(sys.executable, ["-m", "triage_cli", "history", "delete", "3", "--yes"],
                                   env=triage_env, encoding="utf-8", timeout=60)
    without_asking.expect(pexpect.EOF)
    without_asking.close()
    assert without_asking.exitstatus == 0 and "[y/N]" not in without_asking.before
    assert history(run_triage) == []
