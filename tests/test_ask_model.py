"""`triage ask` against a model: the real CLI in a subprocess, the real openai SDK, and a scripted
OpenAI-compatible server on loopback. Nothing is mocked; every request the CLI makes is recorded
in `server.requests` (the JSON bodies) and checked here."""

from __future__ import annotations

import json

from scripted_server import ToolCall, error, text, tools

KEY = "sk-test-not-a-real-key"
TOOL = "get_order_status"
QUESTION = "Where is A1002?"
ANSWER = (
    "Order A1002 is delayed by one day: severe weather at the DHL hub in Manchester. "
    "It should arrive tomorrow.\n\n**Next step:** answer: the order data covers the question."
)


# --------------------------------------------------------------------------- helpers


def messages(request: dict) -> list[dict]:
    return request["messages"]


def roles(request: dict) -> list[str]:
    return [m["role"] for m in messages(request)]


def tool_messages(request: dict) -> list[dict]:
    return [m for m in messages(request) if m["role"] == "tool"]


def last_user_message(request: dict) -> str:
    users = [m for m in messages(request) if m["role"] == "user"]
    assert users, f"no user message in request: {roles(request)}"
    return users[-1]["content"]


def tool_names(request: dict) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools") or []]


def reply_text(result) -> str:
    """The reply printed on stdout, without the triage record lines that follow it."""
    assert "\n\nOrder: " in result.out, f"no triage record after the reply:\n{result.out}"
    return result.out.split("\n\nOrder: ", 1)[0].strip()


def assert_key_not_shown(result) -> None:
    assert KEY not in result.out
    assert KEY not in result.err


def assert_answered(result, server, expected_requests: int) -> None:
    assert result.code == 0, f"exit {result.code}\nstdout:\n{result.out}\nstderr:\n{result.err}"
    assert "error:" not in result.err
    assert len(server.requests) == expected_requests, (
        f"expected {expected_requests} model calls, got {len(server.requests)}: "
        f"{[roles(r) for r in server.requests]}"
    )


# --------------------------------------------------------------------------- one lookup


def test_one_lookup_costs_two_model_calls_and_the_second_carries_the_result(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"})), text(ANSWER))

    result = run_triage("ask", QUESTION, env=model_env)

    assert_answered(result, server, 2)
    first, second = server.requests
    assert last_user_message(first) == QUESTION
    results = tool_messages(second)
    assert len(results) == 1
    # The id the server gave the call comes back with its result.
    calls = [m for m in messages(second) if m["role"] == "assistant" and m.get("tool_calls")]
    assert len(calls) == 1 and len(calls[0]["tool_calls"]) == 1
    call = calls[0]["tool_calls"][0]
    assert call["id"] == results[0]["tool_call_id"]
    data = json.loads(results[0]["content"])
    assert data["order_id"] == "A1002"
    assert data["status"] == "delayed"
    assert data["found"] is True


def test_the_whole_streamed_answer_is_printed_on_stdout(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"})), text(ANSWER))

    result = run_triage("ask", QUESTION, env=model_env)

    assert_answered(result, server, 2)
    # The scripted server streams the answer in 4-character pieces; all of them arrive, in order,
    # and the triage record follows after a blank line.
    reply, record = result.out.split("\n\nOrder: ", 1)
    assert reply.strip() == ANSWER
    assert record.startswith("A1002\n")
    assert "Next step: answer\n" in record
    assert result.out.endswith("\n")


def test_every_request_streams_with_usage_and_the_first_offers_the_order_tool(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"})), text(ANSWER))

    result = run_triage("ask", QUESTION, env=model_env)

    assert_answered(result, server, 2)
    for request in server.requests:
        assert request["stream"] is True
        assert request["stream_options"] == {"include_usage": True}
        assert request["model"] == "gpt-4.1-mini"  # the openai preset's default model
    first = server.requests[0]
    assert TOOL in tool_names(first)
    schema = next(t for t in first["tools"] if t["function"]["name"] == TOOL)
    assert schema["type"] == "function"
    assert "order_id" in schema["function"]["parameters"]["properties"]
    assert first.get("tool_choice", "auto") == "auto"


def test_tool_arguments_split_across_stream_chunks_are_reassembled(run_triage, server, model_env):
    # The scripted server streams arguments in 7-character pieces, so this JSON arrives in 4 parts.
    arguments = {"order_id": "A1002"}
    server.add(tools((TOOL, arguments)), text(ANSWER))

    result = run_triage("ask", QUESTION, env=model_env)

    assert_answered(result, server, 2)
    assistant = messages(server.requests[1])[2]
    sent = assistant["tool_calls"][0]
    assert sent["type"] == "function"
    assert sent["function"]["name"] == TOOL
    assert json.loads(sent["function"]["arguments"]) == arguments
    assert json.loads(tool_messages(server.requests[1])[0]["content"])["status"] == "delayed"


def test_second_request_history_is_system_user_assistant_with_tool_calls_then_tool(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"})), text(ANSWER))

    result = run_triage("ask", QUESTION, env=model_env)

    assert_answered(result, server, 2)
    assert roles(server.requests[0]) == ["system", "user"]
    second = messages(server.requests[1])
    assert [m["role"] for m in second] == ["system", "user", "assistant", "tool"]
    assert second[0] == messages(server.requests[0])[0]  # the same system prompt both times
    assert second[1] == {"role": "user", "content": QUESTION}
    assert second[2]["tool_calls"] and not second[2].get("content")
    assert second[3]["tool_call_id"] == second[2]["tool_calls"][0]["id"]


# --------------------------------------------------------------------------- several orders


def test_two_orders_asked_for_in_one_reply_are_one_tool_round_and_two_model_calls(run_triage, server, model_env):
    server.add(
        tools((TOOL, {"order_id": "A1001"}), (TOOL, {"order_id": "A1003"})),
        text("A1001 is packed and ships today; A1003 was delivered yesterday.\n\n**Next step:** answer"),
    )

    result = run_triage("ask", "The customer has two orders, A1001 and A1003: where are they?", env=model_env)

    assert_answered(result, server, 2)
    second = server.requests[1]
    assert roles(second) == ["system", "user", "assistant", "tool", "tool"]
    asked = messages(second)[2]["tool_calls"]
    assert [json.loads(c["function"]["arguments"])["order_id"] for c in asked] == ["A1001", "A1003"]
    results = tool_messages(second)
    # One result per call, in call order, each tied to its own call id.
    assert [m["tool_call_id"] for m in results] == [c["id"] for c in asked]
    assert len({m["tool_call_id"] for m in results}) == 2
    by_order = {json.loads(m["content"])["order_id"]: json.loads(m["content"]) for m in results}
    assert by_order["A1001"]["status"] == "packed"
    assert by_order["A1003"]["status"] == "delivered"
    assert "A1001 is packed" in result.out


def test_an_unknown_order_comes_back_as_not_found_data(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "Z9999"})), text("There is no order Z9999.\n\n**Next step:** escalate"))

    result = run_triage("ask", "Where is Z9999?", env=model_env)

    assert_answered(result, server, 2)
    data = json.loads(tool_messages(server.requests[1])[0]["content"])
    assert data["found"] is False
    assert data["order_id"] == "Z9999"


# --------------------------------------------------------------------------- where the question comes from


def test_question_piped_on_stdin_reaches_the_model_as_the_user_message(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"})), text(ANSWER))

    result = run_triage("ask", input=QUESTION + "\n", env=model_env)

    assert_answered(result, server, 2)
    assert QUESTION in last_user_message(server.requests[0])
    assert last_user_message(server.requests[0]) == QUESTION  # the trailing newline is trimmed
    assert reply_text(result) == ANSWER


def test_order_flag_alone_asks_for_that_orders_status(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"})), text(ANSWER))

    result = run_triage("ask", "--order", "A1002", env=model_env)

    assert_answered(result, server, 2)
    question = last_user_message(server.requests[0])
    assert "A1002" in question
    assert "status" in question.lower()


def test_order_flag_with_a_question_puts_the_order_in_the_user_message(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"})), text(ANSWER))

    result = run_triage("ask", "--order", "A1002", "It still hasn't arrived", env=model_env)

    assert_answered(result, server, 2)
    question = last_user_message(server.requests[0])
    assert "A1002" in question
    assert "It still hasn't arrived" in question


def test_an_answer_without_any_lookup_costs_one_model_call(run_triage, server, model_env):
    server.add(text("Please ask the customer for their order number.\n\n**Next step:** answer"))

    result = run_triage("ask", "Hello, my parcel is late", env=model_env)

    assert_answered(result, server, 1)
    assert "Please ask the customer for their order number." in result.out


# --------------------------------------------------------------------------- plain output


def test_plain_output_to_a_pipe_has_no_escape_bytes(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"})), text(ANSWER))

    result = run_triage("ask", QUESTION, env=model_env)

    assert_answered(result, server, 2)
    assert "\x1b" not in result.out
    assert "\x1b" not in result.err


def test_control_sequences_sent_by_the_model_never_reach_the_output(run_triage, server, model_env):
    hostile = (
        "Order A1002 is delayed.\x1b[2J\x1b]52;c;ZWNobyBwd25lZA==\x07 Clear\x1b[31m red\x1b[0m"
        "\x9b1;1H\u202eevil\u202c\n\n**Next step:** answer"
    )
    server.add(tools((TOOL, {"order_id": "A1002"})), text(hostile))

    result = run_triage("ask", QUESTION, env=model_env)

    assert_answered(result, server, 2)
    assert "\x1b" not in result.out
    assert "\x07" not in result.out and "\x9b" not in result.out and "\u202e" not in result.out
    assert "ZWNobyBwd25lZA" not in result.out  # the OSC 52 payload goes with its sequence
    assert "Order A1002 is delayed." in result.out
    assert "Clear red" in result.out
    assert "**Next step:** answer" in result.out


# --------------------------------------------------------------------------- failures


def test_a_refused_key_exits_1_with_one_error_line_naming_the_provider(run_triage, server, model_env):
    server.add(error(401, "Incorrect API key provided"))

    result = run_triage("ask", QUESTION, env=model_env)

    assert result.code == 1, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error:")
    assert "check the key for provider openai" in lines[0]
    assert "OPENAI_API_KEY" in lines[0]  # the variable's name, never its value
    assert_key_not_shown(result)
    assert result.out == ""
    assert len(server.requests) == 1  # a 401 is not retried


def test_an_unknown_model_exits_1_and_names_the_model(run_triage, server, model_env):
    server.add(error(404, "The model `no-such-model` does not exist"))

    result = run_triage("ask", "--model", "no-such-model", QUESTION, env=model_env)

    assert result.code == 1, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error:")
    assert "no-such-model" in lines[0]
    assert "404" in lines[0]
    assert server.requests[0]["model"] == "no-such-model"
    assert_key_not_shown(result)
    assert result.out == ""


def test_a_rejected_request_exits_1_with_the_servers_reason(run_triage, server, model_env):
    server.add(error(400, "messages: too long for this model"))

    result = run_triage("ask", QUESTION, env=model_env)

    assert result.code == 1, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error:")
    assert "400" in lines[0]
    assert "messages: too long for this model" in lines[0]
    assert_key_not_shown(result)
    assert len(server.requests) == 1


def test_a_failure_after_the_tool_round_still_exits_1_with_one_error_line(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"})), error(401, "key revoked"))

    result = run_triage("ask", QUESTION, env=model_env)

    assert result.code == 1, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error:") and "check the key for provider openai" in lines[0]
    assert len(server.requests) == 2
    assert_key_not_shown(result)


def test_an_unreachable_server_exits_1_without_showing_the_key(run_triage, triage_env):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1"}

    result = run_triage("ask", QUESTION, env=env)

    assert result.code == 1, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error:")
    assert f"127.0.0.1:{port}" in lines[0]
    assert_key_not_shown(result)


# --------------------------------------------------------------------------- misbehaving models


def test_an_unknown_tool_gets_an_error_as_its_result_and_the_run_still_answers(run_triage, server, model_env):
    server.add(tools(("cancel_order", {"order_id": "A1002"})), text(ANSWER))

    result = run_triage("ask", QUESTION, env=model_env)

    assert_answered(result, server, 2)
    results = tool_messages(server.requests[1])
    assert len(results) == 1
    content = results[0]["content"]
    assert content.startswith("error:")
    assert "cancel_order" in content
    assert TOOL in content  # tells the model what it can call instead
    assert reply_text(result) == ANSWER


def test_invalid_json_arguments_get_an_error_as_the_result_and_the_run_still_answers(run_triage, server, model_env):
    server.add(tools(ToolCall(TOOL, '{"order_id": "A10')), text(ANSWER))

    result = run_triage("ask", QUESTION, env=model_env)

    assert_answered(result, server, 2)
    assistant = messages(server.requests[1])[2]
    assert assistant["tool_calls"][0]["function"]["arguments"] == '{"order_id": "A10'  # sent back as received
    content = tool_messages(server.requests[1])[0]["content"]
    assert content.startswith("error:")
    assert "JSON" in content
    assert reply_text(result) == ANSWER


def test_a_failed_call_and_a_good_call_in_one_round_each_get_their_own_result(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"}), (TOOL, {"order": "A1003"})), text(ANSWER))

    result = run_triage("ask", "Where are A1002 and A1003?", env=model_env)

    assert_answered(result, server, 2)
    good, bad = tool_messages(server.requests[1])
    assert json.loads(good["content"])["status"] == "delayed"
    assert bad["content"].startswith("error:") and "order_id" in bad["content"]


def test_the_round_cap_forces_an_answer_without_tools_on_the_sixth_call(run_triage, server, model_env):
    # Default max_rounds is 5: five tool rounds are allowed, the sixth call must answer in text.
    for _ in range(5):
        server.add(tools((TOOL, {"order_id": "A1002"})))
    server.add(text("Checked A1002 five times: it is delayed.\n\n**Next step:** answer"))

    result = run_triage("ask", QUESTION, env=model_env)

    assert_answered(result, server, 6)
    for request in server.requests[:5]:
        assert request["tool_choice"] == "auto"
    last = server.requests[5]
    assert last["tool_choice"] == "none"
    # The cap note comes right before the forced answer, as a user turn: many chat templates
    # reject a system message after tool results.
    assert last["messages"][-1]["role"] == "user"
    assert last["messages"][-1]["content"].startswith("[triage]")
    assert "tool" in last["messages"][-1]["content"].lower()
    assert len(tool_messages(last)) == 5
    assert "Checked A1002 five times: it is delayed." in result.out
    assert "note: Stopped after 5 tool rounds" in result.err


def test_tool_calls_sent_despite_the_cap_are_not_run_and_the_text_is_the_answer(run_triage, server, model_env):
    for _ in range(5):
        server.add(tools((TOOL, {"order_id": "A1002"})))
    # A model that ignores tool_choice "none": its calls are dropped, its text is the answer.
    server.add(tools((TOOL, {"order_id": "A1002"}), content="A1002 is delayed.\n\n**Next step:** answer"))

    result = run_triage("ask", QUESTION, env=model_env)

    assert_answered(result, server, 6)
    assert server.requests[5]["tool_choice"] == "none"
    assert "A1002 is delayed." in result.out


def test_a_lower_round_cap_from_the_environment_is_respected(run_triage, server, model_env):
    server.add(tools((TOOL, {"order_id": "A1002"})), text(ANSWER))

    result = run_triage("ask", QUESTION, env={**model_env, "TRIAGE_MAX_ROUNDS": "1"})

    # One tool round allowed, so the second call is the forced answer.
    assert_answered(result, server, 2)
    assert server.requests[0]["tool_choice"] == "auto"
    assert server.requests[1]["tool_choice"] == "none"
    assert "Stopped after 1 tool round;" in result.err
    assert reply_text(result) == ANSWER


def test_a_model_that_still_only_calls_tools_at_the_cap_gets_an_answer_written_from_its_lookups(
        run_triage, server, model_env):
    # At the cap the model still only calls tools: those calls are not run, and no text came. The
    # lookup it did make is enough for the rules to answer, so the agent gets a usable answer.
    server.add(*[tools((TOOL, {"order_id": "A1002"})) for _ in range(2)])

    result = run_triage("ask", QUESTION, env={**model_env, "TRIAGE_MAX_ROUNDS": "1"})

    assert result.code == 0, result.err
    assert "Order **A1002** is delayed." in result.out and "Next step: answer" in result.out
    assert "note: The model kept calling tools after 1 tool round; triage's rules wrote this answer" in result.err
    assert "error:" not in result.err
    assert len(server.requests) == 2


def test_a_model_that_only_calls_unknown_tools_until_the_cap_is_an_error_not_an_answer(run_triage, server, model_env):
    # Nothing was looked up, so there is nothing to answer from.
    server.add(*[tools(("no_such_tool", {"x": 1})) for _ in range(2)])

    result = run_triage("ask", QUESTION, env={**model_env, "TRIAGE_MAX_ROUNDS": "1"})

    assert result.code == 1
    assert result.out == ""
    assert [line for line in result.err.splitlines() if line.startswith("error:")] == [
        "error: the model kept calling tools after 1 tool round and gave no answer"]
    assert len(server.requests) == 2


def test_an_empty_answer_is_an_error_not_an_answer(run_triage, server, model_env):
    server.add(text(""))

    result = run_triage("ask", QUESTION, env=model_env)

    assert result.code == 1 and result.out == ""
    assert "error: the model returned an empty answer" in result.err


def test_calls_streamed_without_indexes_or_with_one_index_stay_separate(run_triage, server, model_env):
    # Some servers send every call with index 0; each new id must still start a new call.
    raw = [ToolCall(TOOL, {"order_id": "A1001"}, id="dup"), ToolCall(TOOL, {"order_id": "A1003"}, id="dup")]
    server.add(tools(*raw), text("Both looked up."))

    result = run_triage("ask", "Where are A1001 and A1003?", env=model_env)

    assert_answered(result, server, 2)
    results = tool_messages(server.requests[1])
    assert len(results) == 2 and results[0]["tool_call_id"] != results[1]["tool_call_id"]
    assert [json.loads(r["content"])["order_id"] for r in results] == ["A1001", "A1003"]
