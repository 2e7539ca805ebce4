"""`triage chat` as a daily tool, driven in a pty: slash commands, history, keys, usage,
reasoning and cancel. Model turns go to the scripted server, so every request is checked."""

from __future__ import annotations

import json
from pathlib import Path

import pexpect

from helpers import OFFLINE_END, PROMPT, plain, turn
from serve_helpers import eventually
from scripted_server import Reply, ScriptedServer, answer, text, tools

REPLY = "A1002 is a day late.\n\n**Next step:** answer"


def model_reply(**kw) -> Reply:
    return answer(REPLY, order_id="A1002", issue="late", status="delayed", next_step="answer",
                  summary="Late.", **kw)


def command(child: pexpect.spawn, line: str, expected: str) -> str:
    child.sendline(line)
    child.expect(expected)
    seen = child.before + child.after
    child.expect(PROMPT)
    return plain(seen)


def test_help_lists_every_command_and_the_keys(spawn_chat):
    child = spawn_chat()
    seen = command(child, "/help", "Ctrl-D: leave")
    for name in ("/help", "/order", "/new", "/model", "/provider", "/tickets", "/history", "/usage",
                 "/reasoning", "/json", "/exit"):
        assert name in seen
    assert "Alt+Enter" in seen


def test_an_unknown_command_gets_a_hint_and_never_reaches_the_model(spawn_chat, server, model_env):
    child = spawn_chat(model_env)
    child.sendline("/ordr A1002")
    child.expect("unknown command /ordr: try ([^\r\n]*)")
    assert "/order" in child.match.group(1)
    child.expect(PROMPT)
    assert len(server.requests) == 0


def test_order_sets_the_context_and_shows_in_the_toolbar(spawn_chat, server, model_env):
    server.add(model_reply())
    child = spawn_chat(model_env)
    command(child, "/order a1002", "order in context: A1002")
    turn(child, "Where is it?", "day late")
    assert server.requests[0]["messages"][-1]["content"] == "Order A1002: Where is it?"
    command(child, "/order none", "no order in context")


def test_the_toolbar_shows_provider_model_order_and_session_tokens(triage_env):
    from triage_cli.config import load_settings
    from triage_cli.engine.events import Usage
    from triage_cli.session import TriageSession
    from triage_cli.ui.repl import Repl

    repl = Repl(TriageSession(load_settings({"provider": "ollama", "model": "qwen3:8b"}), source="chat", order="a1002"))
    repl.session.totals.add(Usage(model_calls=3, prompt_tokens=1200, completion_tokens=300))
    toolbar = "".join(text for _, text in repl.toolbar())
    assert "ollama · qwen3:8b" in toolbar and "order A1002" in toolbar and "1,500 tokens" in toolbar


def test_the_toolbar_shows_the_order_the_conversation_is_about(triage_env):
    from triage_cli.config import load_settings
    from triage_cli.engine.events import TriageRecord
    from triage_cli.session import TriageSession
    from triage_cli.ui.repl import Repl

    repl = Repl(TriageSession(load_settings({"provider": "offline"}), source="chat"))
    assert "order —" in "".join(text for _, text in repl.toolbar())
    repl.session.last_record = TriageRecord("A1002", "late", "delayed", "answer", "Late.")  # asked about, never /order
    assert "order A1002" in "".join(text for _, text in repl.toolbar())
    repl.session.set_order("A1003")  # the order set with /order wins
    assert "order A1003" in "".join(text for _, text in repl.toolbar())


def test_new_drops_the_context(spawn_chat, server, model_env):
    server.add(model_reply(), model_reply())
    child = spawn_chat(model_env)
    turn(child, "Where is A1002?", "day late")
    command(child, "/new", "new conversation")
    turn(child, "And A1003?", "day late")
    roles = [m["role"] for m in server.requests[1]["messages"]]
    assert roles == ["system", "user"]  # nothing from the first conversation


def test_model_and_provider_switch_mid_session(spawn_chat, server, model_env):
    server.add(model_reply(), model_reply())
    child = spawn_chat(model_env)
    turn(child, "Where is A1002?", "day late")
    command(child, "/model other-model", "now using openai · other-model")
    turn(child, "And now?", "day late")
    assert server.requests[1]["model"] == "other-model"
    assert [m["role"] for m in server.requests[1]["messages"]][:3] == ["system", "user", "assistant"]
    command(child, "/provider offline", "now using offline rules engine")
    turn(child, "Where is A1003?", OFFLINE_END)
    assert len(server.requests) == 2  # the offline engine answered
    seen = command(child, "/provider acme", "error:")
    assert "unknown provider 'acme'" in seen or "unknown provider" in plain(child.before)


def test_each_answer_ends_with_a_usage_line_and_usage_json_and_history_report(spawn_chat, server, model_env):
    server.add(tools(("get_order_status", {"order_id": "A1002"})), model_reply(usage=(900, 40)))
    child = spawn_chat(model_env)
    seen = turn(child, "Where is A1002?", "first token")
    assert "2 model calls" in seen
    usage = command(child, "/usage", "this session: [^\r\n]*questio")
    assert "900 in / 40 out tokens" in usage or "in /" in usage
    record = command(child, "/json", '"summary"')
    assert '"next_step": "answer"' in record and '"order_id": "A1002"' in record
    history = command(child, "/history", "→ answer")
    assert "Where is A1002?" in history


def test_history_survives_a_restart_and_up_recalls_it(spawn_chat, triage_env):
    child = spawn_chat()
    turn(child, "Where is A1003 please?", OFFLINE_END)
    child.sendeof()
    child.expect(pexpect.EOF)
    child = spawn_chat()
    child.send("\x1b[A")  # Up
    child.expect("Where is A1003 please")
    child.sendcontrol("c")
    child.sendline("exit")
    child.expect(pexpect.EOF)


def test_alt_enter_inserts_a_new_line_and_enter_sends_the_whole_message(spawn_chat, server, model_env):
    server.add(model_reply())
    child = spawn_chat(model_env)
    child.send("line one")
    child.send("\x1b\r")  # Alt+Enter
    child.send("line two A1002\r")
    child.expect("day late")
    child.expect(PROMPT)
    assert server.requests[0]["messages"][-1]["content"] == "line one\nline two A1002"


def test_ctrl_c_during_a_long_answer_returns_at_once_and_closes_the_stream(spawn_chat, triage_env, model_env):
    long_reply = answer("word " * 5000, order_id=None, issue="x", status="x", next_step="answer", summary="s")
    with ScriptedServer([long_reply, model_reply()], tokens_per_second=200, chunk_chars=5) as srv:
        child = spawn_chat({**model_env, "OPENAI_BASE_URL": srv.base_url})
        child.sendline("Tell me everything")
        child.expect("word word word")
        child.sendintr()
        child.expect(r"\[interrupted\]")
        child.expect(PROMPT)
        # At once, shown by the order of events rather than a timing a loaded machine could miss:
        # the reply needs some 25 s in all, and the client hung up on it instead of reading it out.
        eventually(lambda: srv.disconnects >= 1, "the client to hang up on the model")
        turn(child, "Where is A1002?", "day late")  # the next question works
        second = srv.requests[1]["messages"]
        assert any(m["role"] == "assistant" and "[interrupted]" in (m.get("content") or "") for m in second)


def test_reasoning_shows_as_a_count_by_default_and_as_text_when_on(spawn_chat, server, model_env):
    thinking = "Let me check the carrier data first. "
    server.add(Reply(content=text(REPLY).content, reasoning=thinking * 3),
               Reply(content=text(REPLY).content, reasoning=thinking * 3))
    child = spawn_chat({**model_env, "TRIAGE_STRUCTURED_OUTPUT": "off"})
    first = turn(child, "Where is A1002?", "first token")
    assert "carrier data" not in first and "day late" in first
    command(child, "/reasoning on", "reasoning: shown")
    second = turn(child, "And again?", "first token")
    assert "Let me check the carrier data" in second
    reply_part = second[second.index("day late") - 20:]
    assert "carrier data" not in reply_part  # the reply itself stays clean


def test_pasted_lines_arrive_as_one_message(spawn_chat, server, model_env):
    server.add(model_reply())
    child = spawn_chat(model_env)
    child.send("\x1b[200~Customer wrote:\nWhere is A1002?\nThanks\x1b[201~")  # a bracketed paste
    child.send("\r")
    child.expect("day late")
    child.expect(PROMPT)
    assert len(server.requests) == 1
    assert server.requests[0]["messages"][-1]["content"] == "Customer wrote:\nWhere is A1002?\nThanks"


def test_tickets_lists_the_open_escalations(spawn_chat):
    child = spawn_chat()
    turn(child, "A9999 never came", OFFLINE_END)
    seen = command(child, "/tickets", "A9999")
    assert "order not found" in plain(child.before) or "Open tickets" in seen


def test_completion_offers_commands_and_known_order_ids():
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from triage_cli.ui.prompt_input import ChatCompleter
    from triage_cli.ui.slash_commands import COMMANDS

    completer = ChatCompleter(COMMANDS, lambda: ["A1001", "A1002", "B2001"])

    def complete(text: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(text), CompleteEvent())]

    assert complete("/rea") == ["/reasoning"]
    assert set(complete("/re")) == {"/reasoning", "/resume", "/retry"}
    assert set(complete("/")) == set(COMMANDS)
    assert complete("/order a10") == ["A1001", "A1002"]
    assert complete("where is A100") == ["A1001", "A1002"]
    assert complete("hello") == []


def test_a_history_path_that_cannot_be_used_falls_back_to_memory(spawn_chat, triage_env):

    (Path(triage_env["TRIAGE_HOME"]) / "chat_history").mkdir(parents=True)
    child = spawn_chat()
    seen = turn(child, "Where is A1003?", OFFLINE_END)
    assert "Traceback" not in seen and "history failed" not in seen
    child.send("\x1b[A")
    child.expect("Where is A1003")  # this session's history still works


def test_a_bad_order_flag_is_one_line_and_exit_2(triage_env):
    child = pexpect.spawn(__import__("sys").executable, ["-m", "triage_cli", "chat", "--order", "\x1b]0;x\x07"],
                          env={**triage_env, "NO_COLOR": "1"}, encoding="utf-8", timeout=20)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    assert "--order takes one order id" in plain(child.before) and "\x1b]0;" not in child.before


def test_one_registry_holds_each_commands_help_and_handler():
    import asyncio

    from triage_cli.ui import slash_commands

    said: list[str] = []

    class Screen:
        def say(self, text: str, style: str) -> None:
            said.append(text)

    asyncio.run(slash_commands.run_command(Screen(), "/help"))  # type: ignore[arg-type]
    listed = said[0]
    assert "/exit, /quit" in listed  # /quit works, so it is listed
    for name in slash_commands.COMMANDS:
        assert name in listed and name in slash_commands._BY_NAME
    assert asyncio.run(slash_commands.run_command(Screen(), "/quit")) is False
    assert asyncio.run(slash_commands.run_command(Screen(), "/nope")) is True and "unknown command /nope" in said[-1]


def test_json_in_a_narrow_window_is_one_json_text_when_copied(spawn_chat):
    child = spawn_chat()
    turn(child, "Where is A1002? My running shoes are late", OFFLINE_END)
    child.setwinsize(40, 30)  # narrower than the record's lines: nothing may break inside a string
    child.sendline("/json")
    child.expect(r"\{\r?\n[\s\S]*?\r?\n\}")  # from the record's opening brace to its closing one
    record = json.loads(plain(child.after))
    assert record["order_id"] == "A1002" and len('  "summary": ' + json.dumps(record["summary"])) > 30
    child.expect(PROMPT)


def test_retry_asks_the_last_question_again_in_the_same_conversation(spawn_chat, run_triage):
    child = spawn_chat()
    turn(child, "Where is A1005? My yoga mat", OFFLINE_END)
    child.sendline("/retry")
    child.expect("asking again: Where is A1005\\? My yoga mat")
    child.expect(OFFLINE_END)
    child.expect(PROMPT)
    end_chat(child)
    [stored] = json.loads(run_triage("history", "--json").out)
    assert [t["question"] for t in stored["turns"]] == ["Where is A1005? My yoga mat"] * 2
    assert all(t["state"] == "complete" for t in stored["turns"])


def test_retry_with_nothing_asked_yet_says_so(spawn_chat):
    child = spawn_chat()
    child.sendline("/retry")
    child.expect("nothing to retry yet")
    child.expect(PROMPT)


def test_copy_sends_the_last_reply_to_the_clipboard_as_osc_52(spawn_chat):
    import base64

    child = spawn_chat({"TMUX": ""})
    child.sendline("/copy")
    child.expect("no reply to copy yet")
    turn(child, "Where is A1002?", OFFLINE_END)
    child.sendline("/copy")
    child.expect("\x1b\\]52;c;([A-Za-z0-9+/=]+)\x07")
    copied = base64.b64decode(child.match.group(1)).decode()
    child.expect("copied the last reply \\(([0-9,]+) characters\\) to the clipboard")
    assert copied.startswith("Order A1002") or "A1002" in copied.splitlines()[0]
    assert "\x1b" not in copied and len(copied) == int(child.match.group(1).replace(",", ""))
    child.expect(PROMPT)


def test_copy_on_a_dumb_terminal_says_it_cannot(spawn_chat):
    child = spawn_chat({"TERM": "dumb"})
    turn(child, "Where is A1002?", OFFLINE_END)
    child.sendline("/copy")
    child.expect("this terminal cannot take the clipboard")
    assert "\x1b]52" not in child.before


def test_edit_sends_what_was_written_in_the_editor(spawn_chat, run_triage, tmp_path):
    import sys

    writer = tmp_path / "writer.py"
    seen = tmp_path / "seen.txt"  # the editor notes the file it was given and its mode
    writer.write_text("import os, sys, pathlib\n"
                      f"pathlib.Path({str(seen)!r}).write_text(sys.argv[1] + ' ' + oct(os.stat(sys.argv[1]).st_mode & 0o777))\n"
                      "pathlib.Path(sys.argv[1]).write_text('Where is A1003?\\nThe headphones\\n')\n")
    child = spawn_chat({"VISUAL": "", "EDITOR": f"{sys.executable} {writer}"})
    child.sendline("/edit")
    child.expect("› Where is A1003\\?")
    child.expect(OFFLINE_END)
    child.expect(PROMPT)
    end_chat(child)
    [stored] = json.loads(run_triage("history", "--json").out)
    assert [t["question"] for t in stored["turns"]] == ["Where is A1003?\nThe headphones"]
    path, mode = seen.read_text().split()
    assert mode == "0o600" and not Path(path).exists()  # private while edited, removed after


def test_edit_with_a_failing_editor_sends_nothing(spawn_chat, run_triage):
    child = spawn_chat({"VISUAL": "false"})
    child.sendline("/edit")
    child.expect("the editor false exited with status 1; nothing was sent")
    child.expect(PROMPT)
    end_chat(child)
    assert json.loads(run_triage("history", "--json").out) == []


def end_chat(child: pexpect.spawn) -> None:
    child.sendline("/exit")
    child.expect(pexpect.EOF)


def test_resume_of_a_two_order_conversation_then_a_third_order_looks_up_only_the_third(spawn_chat, run_triage):
    child = spawn_chat()
    turn(child, "Where are A1002 and A1003?", OFFLINE_END)
    end_chat(child)
    child = spawn_chat()
    child.sendline("/resume")
    child.expect("resumed conversation 1")
    child.expect(PROMPT)
    turn(child, "And what about A1005?", OFFLINE_END)
    end_chat(child)
    exported = json.loads(run_triage("history", "export", "1", "--format", "json").out)
    third = exported["turns"][-1]
    assert [json.loads(c["arguments"]) for c in third["tool_calls"]] == [{"order_id": "A1005"}]
    assert third["triage"]["order_id"] == "A1005" and third["order"] is None
    assert json.loads(run_triage("tickets", "--json", "--status", "all").out) == []
