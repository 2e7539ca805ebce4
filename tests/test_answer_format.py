"""The final answer's two shapes: a JSON object streamed by its "reply" field, and Markdown with a
hidden <triage>{...}</triage> trailer; and the reader that picks between them."""

from __future__ import annotations

import json

import pytest

from triage_cli.engine.answer_format import (
    RECORD_FIELDS,
    RESPONSE_FORMAT,
    AnswerReader,
    JsonReplyReader,
    TrailerReader,
)

# --- helpers -----------------------------------------------------------------------------------


def read_in_chunks(reader, chunks):
    """Feed every chunk; return (everything shown, what finish() returned as fields, the pieces)."""
    pieces = [reader.feed(chunk) for chunk in chunks]
    rest, fields = reader.finish()
    pieces.append(rest)
    return "".join(pieces), fields, pieces


def two_chunk_splits(text):
    return [(i, [text[:i], text[i:]]) for i in range(len(text) + 1)]


# The reply as it appears inside the JSON text (raw, with escapes), and what it decodes to.
REPLY_LITERAL = (
    r"**A1002** is delayed.\nShe said \"where is it?\" \\ C:\\orders\tTab \/slash "
    r"caf\u00e9 smile \ud83d\ude00 {braces} [brackets] \"reply\": \"not a key\" , : } ]"
)
REPLY_TEXT = (
    '**A1002** is delayed.\nShe said "where is it?" \\ C:\\orders\tTab /slash '
    'café smile \U0001F600 {braces} [brackets] "reply": "not a key" , : } ]'
)

FIELDS = {
    "order_id": "A1002",
    "issue": "late {parcel} \"soon\"",
    "status": "delayed",
    "next_step": "answer",
    "summary": "A1002 is a day late; tell the customer the new date.",
}


def json_document(reply_literal=REPLY_LITERAL, before="", after=None):
    """`{"reply": <literal>, ...fields}` with optional raw JSON members before the reply."""
    after = after if after is not None else ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in FIELDS.items())
    return "{" + before + '"reply": "' + reply_literal + '"' + (", " + after if after else "") + "}"


def test_reply_literal_fixture_decodes_to_the_expected_text():
    # Guards the fixtures themselves: the raw literal really is the JSON encoding of REPLY_TEXT.
    assert json.loads('"' + REPLY_LITERAL + '"') == REPLY_TEXT
    assert "\\ud83d\\ude00" in REPLY_LITERAL and "\\/" in REPLY_LITERAL and "\\u00e9" in REPLY_LITERAL


# --- JsonReplyReader ---------------------------------------------------------------------------


def test_json_reader_streams_the_decoded_reply_in_one_chunk_and_finish_returns_the_whole_object():
    doc = json_document()
    reader = JsonReplyReader()
    shown = reader.feed(doc)
    assert shown == REPLY_TEXT
    assert reader.finish() == ("", {"reply": REPLY_TEXT, **FIELDS})


def test_json_reader_streams_the_exact_reply_for_every_two_chunk_split():
    doc = json_document()
    expected_fields = json.loads(doc)
    for i, chunks in two_chunk_splits(doc):
        shown, fields, _ = read_in_chunks(JsonReplyReader(), chunks)
        assert shown == REPLY_TEXT, f"split at {i}: {doc[:i][-12:]!r} | {doc[i:][:12]!r}"
        assert fields == expected_fields, f"split at {i}"


def test_json_reader_streams_the_exact_reply_in_one_character_chunks_without_replacement_chars():
    doc = json_document()
    shown, fields, pieces = read_in_chunks(JsonReplyReader(), list(doc))
    assert shown == REPLY_TEXT
    assert fields == json.loads(doc)
    assert pieces[-1] == ""  # finish() has nothing left to show
    assert all("\ufffd" not in piece for piece in pieces)
    # No piece carries half a surrogate pair: the emoji comes out whole, once.
    assert all(not any(0xD800 <= ord(c) < 0xE000 for c in piece) for piece in pieces)
    assert sum(piece.count("\U0001F600") for piece in pieces) == 1


def test_json_reader_keeps_a_surrogate_pair_whole_for_every_three_chunk_split_inside_it():
    doc = json_document()
    start = doc.index("\\ud83d")
    end = start + len("\\ud83d\\ude00")
    for i in range(start, end + 1):
        for j in range(i, end + 1):
            shown, fields, pieces = read_in_chunks(JsonReplyReader(), [doc[:i], doc[i:j], doc[j:]])
            assert shown == REPLY_TEXT, f"splits at {i}, {j}"
            assert all("\ufffd" not in piece for piece in pieces)


def test_json_reader_streams_the_reply_before_the_object_is_complete():
    reader = JsonReplyReader()
    assert reader.feed('{"reply": "Hello wor') == "Hello wor"
    assert reader.feed('ld", "order_id": "A1') == "ld"
    assert reader.feed('002", "issue": "x"') == ""


def test_json_reader_finish_returns_empty_text_and_the_full_dict():
    doc = json_document()
    reader = JsonReplyReader()
    reader.feed(doc)
    rest, fields = reader.finish()
    assert rest == ""
    assert fields == {"reply": REPLY_TEXT, **FIELDS}
    assert list(fields) == ["reply", *RECORD_FIELDS]


def test_json_reader_streams_the_reply_when_it_is_not_the_first_key():
    doc = '{"order_id": "A1002", "issue": "reply", "reply": "Shown \\"text\\".", "status": "delayed"}'
    for i, chunks in two_chunk_splits(doc):
        shown, fields, _ = read_in_chunks(JsonReplyReader(), chunks)
        assert shown == 'Shown "text".', f"split at {i}"
        assert fields == json.loads(doc)


NESTED_BEFORE = (
    '"meta": {"reply": "hidden one", "inner": {"reply": "hidden two"}, "list": [{"reply": "hidden three"}, "reply"]}, '
    '"items": [["reply", "hidden four"], {"reply": "hidden five"}, {"x": [{"reply": "hidden six"}]}], '
    '"note": "reply", '
)


def test_json_reader_streams_only_the_top_level_reply_not_nested_reply_keys_for_every_split():
    doc = json_document(before=NESTED_BEFORE)
    expected_fields = json.loads(doc)
    assert expected_fields["meta"]["reply"] == "hidden one"  # the fixture really nests "reply"
    for i, chunks in two_chunk_splits(doc):
        shown, fields, _ = read_in_chunks(JsonReplyReader(), chunks)
        assert shown == REPLY_TEXT, f"split at {i}: {doc[:i][-12:]!r} | {doc[i:][:12]!r}"
        assert "hidden" not in shown
        assert fields == expected_fields
    shown, _, _ = read_in_chunks(JsonReplyReader(), list(doc))
    assert shown == REPLY_TEXT


def test_json_reader_does_not_stream_a_nested_reply_when_the_top_level_has_none():
    doc = '{"meta": {"reply": "hidden"}, "order_id": "A1002"}'
    shown, fields, _ = read_in_chunks(JsonReplyReader(), list(doc))
    assert shown == ""
    assert fields == json.loads(doc)


@pytest.mark.parametrize("value", ['{"text": "hidden", "reply": "hidden too"}', '["hidden", {"reply": "hidden"}]'])
def test_json_reader_streams_nothing_when_the_top_level_reply_is_not_a_string(value):
    doc = '{"reply": ' + value + ', "order_id": "A1002"}'
    for i, chunks in two_chunk_splits(doc):
        shown, fields, _ = read_in_chunks(JsonReplyReader(), chunks)
        assert shown == "", f"split at {i}"
        assert fields == json.loads(doc)


def test_json_reader_truncated_object_gives_no_fields_but_the_streamed_prefix_is_correct():
    doc = json_document()
    reply_start = doc.index('"reply": "') + len('"reply": "')
    reply_end = reply_start + len(REPLY_LITERAL)
    previous = ""
    for cut in range(len(doc)):  # every proper prefix of the document is incomplete JSON
        shown, fields, pieces = read_in_chunks(JsonReplyReader(), [doc[:cut]])
        assert fields is None, f"cut at {cut}"
        assert pieces[-1] == ""
        assert REPLY_TEXT.startswith(shown), f"cut at {cut}: {shown!r}"
        assert shown.startswith(previous), f"cut at {cut}: streamed text went backwards"
        assert "\ufffd" not in shown
        previous = shown
        if cut <= reply_start:
            assert shown == ""
        elif cut >= reply_end:
            assert shown == REPLY_TEXT
        else:
            try:
                decoded = json.loads('"' + doc[reply_start:cut] + '"')
            except json.JSONDecodeError:
                continue  # cut inside an escape: only the prefix property applies
            if decoded and 0xD800 <= ord(decoded[-1]) < 0xDC00:
                decoded = decoded[:-1]  # a pending high surrogate is held back
            assert shown == decoded, f"cut at {cut}"


def test_json_reader_truncated_in_one_character_chunks_streams_what_arrived():
    doc = json_document()
    cut = doc.index("smile") + len("smile")
    shown, fields, _ = read_in_chunks(JsonReplyReader(), list(doc[:cut]))
    assert fields is None
    assert shown == REPLY_TEXT[: REPLY_TEXT.index("smile") + len("smile")]


def test_json_reader_accepts_a_json_code_fence_around_the_object():
    doc = "```json\n" + json_document() + "\n```\n"
    for i, chunks in two_chunk_splits(doc):
        shown, fields, _ = read_in_chunks(JsonReplyReader(), chunks)
        assert shown == REPLY_TEXT, f"split at {i}"
        assert fields == {"reply": REPLY_TEXT, **FIELDS}


def test_json_reader_finish_gives_none_for_a_json_array_or_garbage():
    for text in ('["reply", "x"]', "not json at all", ""):
        reader = JsonReplyReader()
        reader.feed(text)
        assert reader.finish() == ("", None)


def test_json_reader_turns_a_lone_high_surrogate_into_a_replacement_char():
    shown, fields, _ = read_in_chunks(JsonReplyReader(), list('{"reply": "a\\ud83db"}'))
    assert shown == "a\ufffdb"
    shown, _, _ = read_in_chunks(JsonReplyReader(), list('{"reply": "a\\ud83d"}'))
    assert shown == "a\ufffd"


# --- TrailerReader -----------------------------------------------------------------------------

MARKDOWN = (
    "**A1002** is delayed by a day (a < b, and 3 > 2).\n\n"
    "- Carrier: DHL, tracking `JD0142`\n"
    "- Use <trim> tags? No: <tri is not the marker.\n\n"
    "**Next step:** answer\n"
)
TRAILER_FIELDS = {"order_id": "A1002", "issue": "late {delivery}", "status": "delayed",
                  "next_step": "answer", "summary": "A1002 is a day late; \"</triage\" is text."}
TRAILER = "<triage>" + json.dumps(TRAILER_FIELDS) + "</triage>"


def assert_no_trailer_leak(shown):
    assert "<triage" not in shown and "triage>" not in shown
    assert "<t" not in shown.replace("<trim>", "").replace("<tri is", "")
    assert '"order_id"' not in shown and "{" not in shown and "late {delivery}" not in shown


def test_trailer_reader_hides_the_trailer_and_returns_its_fields_for_every_split():
    doc = MARKDOWN + TRAILER
    for i, chunks in two_chunk_splits(doc):
        shown, fields, _ = read_in_chunks(TrailerReader(), chunks)
        assert shown == MARKDOWN, f"split at {i}: {doc[:i][-12:]!r} | {doc[i:][:12]!r}"
        assert_no_trailer_leak(shown)
        assert fields == TRAILER_FIELDS, f"split at {i}"


def test_trailer_reader_hides_the_trailer_in_one_character_chunks():
    doc = MARKDOWN + TRAILER + "\n"
    shown, fields, pieces = read_in_chunks(TrailerReader(), list(doc))
    assert shown == MARKDOWN
    assert pieces[-1] == ""
    assert fields == TRAILER_FIELDS


def test_trailer_reader_streams_markdown_before_the_trailer_arrives():
    reader = TrailerReader()
    assert reader.feed("A1002 is delayed.") == "A1002 is delayed."
    assert reader.feed(" More text\n<tri") == " More text\n"  # a possible marker start is held
    assert reader.feed("age>{\"order_id\": \"A1002\"}") == ""
    assert reader.feed("</triage>") == ""
    assert reader.finish() == ("", {"order_id": "A1002"})


FENCED_MARKDOWN = "**A1002** is delayed by a day.\n\n**Next step:** answer\n"


@pytest.mark.parametrize("fence", ["```json\n", "```JSON\n", "```\n", "```json \n", "  ```json\n", "```json"])
def test_trailer_reader_hides_a_json_fence_line_right_before_the_marker(fence):
    doc = FENCED_MARKDOWN + fence + TRAILER + "\n```\n"
    shown, fields, _ = read_in_chunks(TrailerReader(), [doc])
    assert "`" not in shown
    assert shown.rstrip() == FENCED_MARKDOWN.rstrip()
    assert fields == TRAILER_FIELDS


def test_trailer_reader_hides_a_json_fence_before_the_marker_for_every_split():
    doc = FENCED_MARKDOWN + "```json\n" + TRAILER + "\n```\n"
    failures = []
    for i, chunks in two_chunk_splits(doc):
        shown, fields, _ = read_in_chunks(TrailerReader(), chunks)
        if "`" in shown or shown.rstrip() != FENCED_MARKDOWN.rstrip() or fields != TRAILER_FIELDS:
            failures.append((i, doc[:i][-8:], shown[-14:]))
    assert failures == []


def test_trailer_reader_hides_a_json_fence_before_the_marker_in_one_character_chunks():
    doc = FENCED_MARKDOWN + "```json\n" + TRAILER + "\n```\n"
    shown, fields, _ = read_in_chunks(TrailerReader(), list(doc))
    assert "`" not in shown
    assert shown.rstrip() == FENCED_MARKDOWN.rstrip()
    assert fields == TRAILER_FIELDS


CODE_MARKDOWN = (
    "Ask the customer to run:\n\n"
    "```python\n"
    "print('a < b')\n"
    "```\n\n"
    "```json\n"
    '{"not": "the trailer"}\n'
    "```\n\n"
    "Then the parcel will be tracked.\n"
)


def test_trailer_reader_shows_a_code_block_in_the_reply_intact_for_every_split():
    doc = CODE_MARKDOWN + TRAILER
    for i, chunks in two_chunk_splits(doc):
        shown, fields, _ = read_in_chunks(TrailerReader(), chunks)
        assert shown == CODE_MARKDOWN, f"split at {i}"
        assert fields == TRAILER_FIELDS
    shown, fields, _ = read_in_chunks(TrailerReader(), list(doc))
    assert shown == CODE_MARKDOWN
    assert fields == TRAILER_FIELDS


def test_trailer_reader_shows_a_code_block_with_no_trailer_intact_for_every_split():
    for i, chunks in two_chunk_splits(CODE_MARKDOWN):
        shown, fields, _ = read_in_chunks(TrailerReader(), chunks)
        assert shown == CODE_MARKDOWN, f"split at {i}"
        assert fields is None


def test_trailer_reader_keeps_the_closing_fence_of_a_code_block_that_ends_right_before_the_trailer():
    # Only a fence *opened* just before the marker belongs to the trailer; a closing fence is the reply's.
    markdown = "Ask the customer to run:\n\n```python\nprint('a < b')\n```\n"
    shown, fields, _ = read_in_chunks(TrailerReader(), [markdown + TRAILER])
    assert fields == TRAILER_FIELDS
    assert shown == markdown


@pytest.mark.parametrize("text", ["a < b", "Use <tri", "x <triag", "<", "ends with <triage", "<TRIAGE> is not it"])
def test_trailer_reader_shows_text_that_never_becomes_the_marker_in_full_by_the_end(text):
    for i, chunks in two_chunk_splits(text):
        shown, fields, _ = read_in_chunks(TrailerReader(), chunks)
        assert shown == text, f"split at {i}"
        assert fields is None
    shown, fields, _ = read_in_chunks(TrailerReader(), list(text))
    assert shown == text and fields is None


def test_trailer_reader_holds_a_partial_marker_until_finish():
    reader = TrailerReader()
    assert reader.feed("Use <tri") == "Use "
    assert reader.finish() == ("<tri", None)


def test_trailer_reader_without_trailer_shows_all_text_and_gives_no_fields():
    for i, chunks in two_chunk_splits(MARKDOWN):
        shown, fields, _ = read_in_chunks(TrailerReader(), chunks)
        assert shown == MARKDOWN and fields is None


@pytest.mark.parametrize("body", ['{"order_id": "A1002", "issue": }', "not json", "", '["a", "b"]', '{"order_id": '])
def test_trailer_reader_gives_none_for_an_invalid_trailer(body):
    doc = MARKDOWN + "<triage>" + body + "</triage>"
    shown, fields, _ = read_in_chunks(TrailerReader(), [doc])
    assert shown == MARKDOWN
    assert fields is None


def test_trailer_reader_keeps_reply_text_after_the_closing_tag():
    doc = MARKDOWN + TRAILER + "\nLet me know if you need more."
    for i, chunks in two_chunk_splits(doc):
        shown, fields, _ = read_in_chunks(TrailerReader(), chunks)
        assert shown == MARKDOWN + "\nLet me know if you need more.", f"split at {i}"
        assert fields == TRAILER_FIELDS


def test_trailer_reader_shows_the_reply_when_the_record_comes_first():
    doc = TRAILER + "\n\n" + MARKDOWN
    for i, chunks in two_chunk_splits(doc):
        shown, fields, _ = read_in_chunks(TrailerReader(), chunks)
        assert shown == MARKDOWN, f"split at {i}"
        assert fields == TRAILER_FIELDS


def test_trailer_reader_hides_the_closing_fence_of_a_wrapped_record_in_the_middle():
    doc = MARKDOWN + "```json\n" + TRAILER + "\n```\nMore words."
    for i, chunks in two_chunk_splits(doc):
        shown, fields, _ = read_in_chunks(TrailerReader(), chunks)
        assert shown == MARKDOWN + "More words.", f"split at {i}"
        assert fields == TRAILER_FIELDS


def test_trailer_reader_hides_a_record_fence_opened_right_after_a_code_block_closes():
    reply = "Tracking:\n\n```\nJD007347940\n```\n\n"
    doc = reply + "```json\n" + TRAILER + "\n```"
    for size in range(1, 12):
        chunks = [doc[i:i + size] for i in range(0, len(doc), size)]
        shown, fields, _ = read_in_chunks(TrailerReader(), chunks)
        assert shown.rstrip("\n") == reply.rstrip("\n"), f"pieces of {size}"
        assert fields == TRAILER_FIELDS


# --- AnswerReader ------------------------------------------------------------------------------

JSON_ANSWER = json_document()
FENCED_JSON_ANSWER = "```json\n" + json_document() + "\n```"


def answer_cases():
    """(name, document, expected visible reply, expected fields)."""
    return [
        ("json", JSON_ANSWER, REPLY_TEXT, {"reply": REPLY_TEXT, **FIELDS}),
        ("json after whitespace", "  \n\t" + JSON_ANSWER, REPLY_TEXT, {"reply": REPLY_TEXT, **FIELDS}),
        ("fenced json", FENCED_JSON_ANSWER, REPLY_TEXT, {"reply": REPLY_TEXT, **FIELDS}),
        ("fenced json after whitespace", "\n " + FENCED_JSON_ANSWER + "\n", REPLY_TEXT,
         {"reply": REPLY_TEXT, **FIELDS}),
        ("fenced json with blank line", "```json\n\n" + JSON_ANSWER + "\n```", REPLY_TEXT,
         {"reply": REPLY_TEXT, **FIELDS}),
        ("markdown with trailer", MARKDOWN + TRAILER, MARKDOWN, TRAILER_FIELDS),
        ("markdown without trailer", MARKDOWN, MARKDOWN, None),
        ("markdown after whitespace", "\n\n  " + MARKDOWN + TRAILER, "\n\n  " + MARKDOWN, TRAILER_FIELDS),
        ("markdown opening with a code block", CODE_MARKDOWN.split("\n\n", 1)[1] + TRAILER,
         CODE_MARKDOWN.split("\n\n", 1)[1], TRAILER_FIELDS),
        ("markdown opening with inline code", "`A1002` is delayed.\n" + TRAILER, "`A1002` is delayed.\n",
         TRAILER_FIELDS),
    ]


@pytest.mark.parametrize("name, doc, visible, fields", answer_cases(), ids=[c[0] for c in answer_cases()])
def test_answer_reader_shows_the_expected_reply_for_every_split(name, doc, visible, fields):
    for i, chunks in two_chunk_splits(doc):
        shown, got, _ = read_in_chunks(AnswerReader(), chunks)
        assert shown == visible, f"{name}: split at {i}: {doc[:i][-12:]!r} | {doc[i:][:12]!r}"
        assert got == fields, f"{name}: split at {i}"


@pytest.mark.parametrize("name, doc, visible, fields", answer_cases(), ids=[c[0] for c in answer_cases()])
def test_answer_reader_shows_the_expected_reply_in_one_character_chunks(name, doc, visible, fields):
    shown, got, _ = read_in_chunks(AnswerReader(), list(doc))
    assert shown == visible
    assert got == fields


def test_answer_reader_picks_json_for_a_leading_brace_and_streams_the_reply_early():
    reader = AnswerReader()
    assert reader.feed("  ") == ""
    assert reader.feed('{"reply": "Hel') == "Hel"
    assert reader.feed('lo", "order_id": null}') == "lo"
    assert reader.finish() == ("", {"reply": "Hello", "order_id": None})


def test_answer_reader_picks_json_for_a_fenced_json_object():
    reader = AnswerReader()
    assert reader.feed("```json") == ""
    assert reader.feed("\n") == ""
    assert reader.feed('{"reply": "Hi') == "Hi"
    assert reader.feed('", "next_step": "escalate"}\n```') == ""
    assert reader.finish() == ("", {"reply": "Hi", "next_step": "escalate"})


def test_answer_reader_picks_markdown_for_a_fenced_code_block_that_is_not_json():
    reader = AnswerReader()
    assert reader.feed("```python\n") == ""
    shown = reader.feed("print(1)\n```\nDone.\n")
    rest, fields = reader.finish()
    assert shown + rest == "```python\nprint(1)\n```\nDone.\n"
    assert fields is None


def test_answer_reader_picks_markdown_for_plain_text_and_streams_it_at_once():
    reader = AnswerReader()
    assert reader.feed("A1002 is ") == "A1002 is "
    assert reader.feed("delayed.") == "delayed."
    assert reader.finish() == ("", None)


def test_answer_reader_waits_through_a_whitespace_only_lead_then_shows_it_with_the_text():
    reader = AnswerReader()
    assert reader.feed("\n  ") == ""
    assert reader.feed("\t") == ""
    shown = reader.feed("Hello")
    rest, fields = reader.finish()
    assert shown + rest == "\n  \tHello"
    assert fields is None


@pytest.mark.parametrize("lead", ["", "   \n", "`", "``", "```", "```json", "```json\n", "```json\n  \n", "  ``"])
def test_answer_reader_finish_with_only_a_partial_lead_returns_that_text(lead):
    reader = AnswerReader()
    shown = reader.feed(lead)
    assert shown == ""  # still undecided
    rest, fields = reader.finish()
    assert shown + rest == lead
    assert fields is None


def test_answer_reader_finish_after_a_partial_lead_fed_in_one_character_chunks_returns_the_text():
    reader = AnswerReader()
    shown = "".join(reader.feed(c) for c in "```js")
    rest, fields = reader.finish()
    assert shown + rest == "```js"
    assert fields is None


def test_answer_reader_truncated_json_keeps_the_streamed_reply_and_gives_no_fields():
    doc = JSON_ANSWER[: JSON_ANSWER.index("smile")]
    shown, fields, _ = read_in_chunks(AnswerReader(), list(doc))
    assert fields is None
    assert shown == REPLY_TEXT[: REPLY_TEXT.index("smile")]


# --- RESPONSE_FORMAT ---------------------------------------------------------------------------


def test_response_format_is_a_strict_json_schema_named_triage_answer():
    assert RESPONSE_FORMAT["type"] == "json_schema"
    spec = RESPONSE_FORMAT["json_schema"]
    assert spec["strict"] is True
    assert spec["name"] and all(c.isalnum() or c in "_-" for c in spec["name"])
    json.dumps(RESPONSE_FORMAT)  # serialisable as a request field


def test_response_format_schema_puts_reply_first_and_requires_every_property():
    schema = RESPONSE_FORMAT["json_schema"]["schema"]
    assert schema["type"] == "object"
    properties = list(schema["properties"])
    assert properties[0] == "reply"
    assert properties == ["reply", *RECORD_FIELDS]
    assert set(schema["required"]) == set(properties)
    assert len(schema["required"]) == len(properties)
    assert schema["additionalProperties"] is False


def test_response_format_schema_field_types_follow_strict_mode():
    properties = RESPONSE_FORMAT["json_schema"]["schema"]["properties"]
    assert properties["reply"]["type"] == "string"
    assert properties["order_id"]["type"] == ["string", "null"]  # nullable, but still required
    assert properties["next_step"]["enum"] == ["answer", "escalate"]
    for name, spec in properties.items():
        assert "type" in spec, name
        if spec["type"] == "object":  # strict mode: every nested object closed too
            assert spec.get("additionalProperties") is False


def test_answer_reader_finds_a_json_answer_after_a_few_words_of_markdown():
    doc = "Here is the answer:\n" + json_document()
    for i, chunks in two_chunk_splits(doc):
        shown, fields, _ = read_in_chunks(AnswerReader(), chunks)
        assert shown == "Here is the answer:\n" + REPLY_TEXT, f"split at {i}"
        assert fields is not None and fields["reply"] == REPLY_TEXT


def test_answer_reader_shows_a_reply_that_opens_with_a_json_code_block():
    doc = '```json\n{"a": 1}\n```\n\n- item one\n- item two\n'
    for i, chunks in two_chunk_splits(doc):
        shown, fields, _ = read_in_chunks(AnswerReader(), chunks)
        assert shown == doc, f"split at {i}"
        assert fields is None


@pytest.mark.parametrize("body", ["{}", "{ }", "{\n}", "  {}  "])
def test_answer_reader_takes_an_empty_object_as_an_empty_json_answer_not_as_text(body):
    # JSON mode with nothing in it (SmolLM2 on llama-cpp-python sent "{ }"): nothing to show.
    reader = AnswerReader()
    shown = "".join(reader.feed(c) for c in body)
    rest, fields = reader.finish()
    assert shown + rest == "" and not reader.unterminated
