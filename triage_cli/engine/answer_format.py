"""The shape of a final answer: the reply and its triage record from one generation.

With structured output the model answers with a JSON object whose first field is the reply;
`JsonReplyReader` streams that field's text as it arrives, long before the object is complete.
Without it the model writes Markdown and ends with a hidden `<triage>{...}</triage>` trailer;
`TrailerReader` streams the Markdown and holds back the trailer. `AnswerReader` picks one of the
two from the first characters, so a server that ignores `response_format` still works.
"""

from __future__ import annotations

import json
import re
from typing import Any

RECORD_FIELDS = ("order_id", "issue", "status", "next_step", "summary")
TRAILER_OPEN, TRAILER_CLOSE = "<triage>", "</triage>"

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reply": {"type": "string", "description": "The answer for the support agent, in Markdown."},
        "order_id": {"type": ["string", "null"], "description": "The order the answer is about, or null."},
        "issue": {"type": "string", "description": "The customer's problem in a few words."},
        "status": {"type": "string", "description": "The order's status in a few words, from the order data."},
        "next_step": {"type": "string", "enum": ["answer", "escalate"]},
        "summary": {"type": "string", "description": "One or two sentences for the ticket."},
    },
    "required": ["reply", *RECORD_FIELDS],
    "additionalProperties": False,
}

RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "triage_answer", "strict": True, "schema": ANSWER_SCHEMA},
}
# For servers that take JSON mode but not a schema (llama-cpp-python): the prompt describes it.
RESPONSE_FORMATS: dict[str, dict[str, Any] | None] = {
    "json_schema": RESPONSE_FORMAT, "json_object": {"type": "json_object"}, "off": None,
}

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_PLAIN_RUN = re.compile(r'[^"\\]+')


class JsonReplyReader:
    """Streams the decoded text of the top-level `"reply"` string of a JSON object, piece by
    piece, whatever the chunk boundaries (inside escapes and surrogate pairs too)."""

    def __init__(self) -> None:
        self._raw: list[str] = []
        self._depth = 0
        self._expect_key = False
        self._in_string = False
        self._is_key = False
        self._capturing = False
        self._key = ""
        self._key_chars: list[str] = []
        self._escape = False
        self._hex: str | None = None
        self._high_surrogate: int | None = None
        self._out: list[str] = []
        self.closed = False  # the top-level object (or array) has been closed

    def feed(self, text: str) -> str:
        self._raw.append(text)
        i, n = 0, len(text)
        while i < n:
            if self._in_string and self._hex is None and not self._escape:
                run = _PLAIN_RUN.match(text, i)
                if run:
                    self._take(run.group())
                    i = run.end()
                    continue
            self._step(text[i])
            i += 1
        out, self._out = "".join(self._out), []
        return out

    def _step(self, ch: str) -> None:
        if self._in_string:
            if self._hex is not None:
                self._hex += ch
                if len(self._hex) == 4:
                    code, self._hex = self._hex, None
                    self._take_code(int(code, 16) if _is_hex(code) else 0xFFFD)
            elif self._escape:
                self._escape = False
                if ch == "u":
                    self._hex = ""
                else:
                    self._take(_ESCAPES.get(ch, ch))
            elif ch == "\\":
                self._escape = True
            elif ch == '"':
                self._in_string = False
                self._take("")  # a lone high surrogate at the end becomes U+FFFD
                if self._is_key:
                    self._key = "".join(self._key_chars)
            return
        if ch == '"':
            self._in_string = True
            self._is_key = self._depth == 1 and self._expect_key
            self._capturing = self._depth == 1 and not self._is_key and self._key == "reply"
            self._key_chars = []
        elif ch in "{[":
            self._depth += 1
            self._expect_key = self._depth == 1 and ch == "{"
        elif ch in "}]":
            self._depth -= 1
            self.closed = self.closed or self._depth == 0
        elif self._depth == 1 and ch in ":,":
            self._expect_key = ch == ","

    def _take_code(self, code: int) -> None:
        if 0xD800 <= code < 0xDC00:
            self._take("")
            self._high_surrogate = code
        elif 0xDC00 <= code < 0xE000 and self._high_surrogate is not None:
            high, self._high_surrogate = self._high_surrogate, None
            self._take(chr(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)))
        else:
            self._take(chr(code) if not 0xD800 <= code < 0xE000 else "\ufffd")

    def _take(self, text: str) -> None:
        if self._high_surrogate is not None:
            self._high_surrogate = None
            text = "\ufffd" + text
        if not text:
            return
        if self._is_key:
            self._key_chars.append(text)
        elif self._capturing:
            self._out.append(text)

    def finish(self) -> tuple[str, dict[str, Any] | None]:
        """Nothing more to show; the whole object, or None when it is incomplete or invalid."""
        return "", _decode_object("".join(self._raw))


class TrailerReader:
    """Streams a Markdown reply and holds back the `<triage>{...}</triage>` record, wherever it
    comes (at the end as asked, or first), and a code fence wrapped around it."""

    # A fence line (or the start of one) at the very end of the text seen so far.
    _FENCE_TAIL = re.compile(r"(?:^|\n)[ \t]*`{1,3}[\w-]*[ \t]*\n?[ \t]*\Z")
    _FENCE_LINE = re.compile(r"[ \t]*```")

    def __init__(self) -> None:
        self._held = ""
        self._trailer: str | None = None  # the record text while inside the tags
        self._record: str | None = None  # the record text once the tags closed
        self._wrapped = False  # a fence opened just before the record was hidden: hide its close
        self._in_code = False  # inside a fenced code block of the text shown so far
        self._line = ""  # the shown text's unfinished last line
        self._shown_any = False
        self._after_record = False

    def feed(self, text: str) -> str:
        shown: list[str] = []
        while text:
            if self._trailer is None:
                visible, text = self._feed_reply(text)
                shown.append(visible)
                continue
            self._trailer += text
            body, closed, text = self._trailer.partition(TRAILER_CLOSE)
            if not closed:
                break
            self._record, self._trailer = body, None  # the reply may go on after the record
            self._after_record = True
        return "".join(shown)

    def _feed_reply(self, text: str) -> tuple[str, str]:
        """Shows what is surely reply; returns (shown, text that belongs to the record)."""
        buffer, self._held = self._held + text, ""
        while self._after_record or self._wrapped:
            # Right after the record: drop the fence that wrapped it and the blank lines it
            # leaves; the reply may go on after them.
            stripped = buffer.lstrip()
            if self._wrapped and stripped.startswith("```") and "\n" in stripped:
                buffer, self._wrapped = stripped.split("\n", 1)[1], False
                continue
            if not stripped or (self._wrapped and ("```".startswith(stripped) or stripped.startswith("```"))):
                self._held = buffer
                return "", ""
            self._wrapped = self._after_record = False
            buffer = buffer if self._shown_any else stripped
        at = buffer.find(TRAILER_OPEN)
        if at >= 0:
            before = buffer[:at]
            fence = self._opening_fence(before, len(before))
            if fence is not None:
                before, self._wrapped = before[:fence], True
            self._trailer = ""
            return self._show(before), buffer[at + len(TRAILER_OPEN):]
        cut = len(buffer) - _partial_marker_length(buffer)
        fence = self._opening_fence(buffer, cut)
        if fence is not None:
            cut = fence
        self._held = buffer[cut:]
        return self._show(buffer[:cut]), ""

    def _opening_fence(self, text: str, end: int) -> int | None:
        """Where a fence that would open a code block ends `text[:end]`, if one does: it may
        wrap the record, so it is not shown yet. A fence that closes a block is shown."""
        if "`" not in text:
            return None
        match = self._FENCE_TAIL.search(text, 0, end)
        if match is None:
            return None
        start = match.start()
        if text.startswith("\n", start):
            line_start = start + 1
        elif self._line.strip():
            return None  # backticks in the middle of a line are not a fence
        else:
            line_start = start
        in_code = self._in_code != bool(self._fences_in(text[:line_start]) % 2)
        return None if in_code else line_start

    def _fences_in(self, text: str) -> int:
        if "`" not in text and "`" not in self._line:
            return 0  # the common chunk, checked for every one of them
        lines = (self._line + text).split("\n")[:-1]
        return sum(1 for line in lines if self._FENCE_LINE.match(line))

    def _show(self, text: str) -> str:
        self._shown_any = self._shown_any or bool(text)
        if self._fences_in(text) % 2:
            self._in_code = not self._in_code
        self._line = (self._line + text).rsplit("\n", 1)[-1]
        return text

    def finish(self) -> tuple[str, dict[str, Any] | None]:
        rest, self._held = self._held, ""
        if (self._after_record or self._wrapped) and rest.strip() in ("", "`", "``", "```"):
            rest = ""
        record = self._record if self._trailer is None else self._trailer
        fields = None
        if record is not None and "{" in record:
            fields = _decode_object(record[record.find("{"):])
        return (self._show(rest) if rest else ""), fields


_REPLY_OBJECT = re.compile(r'(?:^|\n)[ \t]*\{\s*"reply"\s*:')
_REPLY_OBJECT_START = '{"reply":'


class AnswerReader:
    """Reads a final answer in whichever shape it comes: feed() returns the reply text to show,
    finish() the rest of it and the record fields the model gave (None when it gave none).

    A JSON answer is recognised at the start (also inside a ```json fence) and, after a few
    words of Markdown, on a line of its own starting with `{"reply":`."""

    def __init__(self) -> None:
        self._lead = ""
        self._reader: JsonReplyReader | TrailerReader | None = None
        self._pending = ""  # a Markdown line that may still turn out to start the JSON answer
        self._at_line_start = True

    def feed(self, text: str) -> str:
        if isinstance(self._reader, JsonReplyReader):
            return self._reader.feed(text)
        if self._reader is not None:
            return self._feed_markdown(text)
        self._lead += text
        shape = _shape(self._lead)
        if shape is None:
            return ""
        lead, self._lead = self._lead, ""
        if shape == "json":
            self._reader = JsonReplyReader()
            return self._reader.feed(lead)
        self._reader = TrailerReader()
        return self._feed_markdown(lead)

    def _feed_markdown(self, text: str) -> str:
        assert isinstance(self._reader, TrailerReader)
        buffer, self._pending = self._pending + text, ""
        match = _REPLY_OBJECT.search(buffer)
        if match and (buffer.startswith("\n", match.start()) or self._at_line_start):
            begin = match.start() + (1 if buffer.startswith("\n", match.start()) else 0)
            shown = self._reader.feed(buffer[:begin]) + self._reader.finish()[0]
            self._reader = JsonReplyReader()
            return shown + self._reader.feed(buffer[begin:])
        newline = buffer.rfind("\n")
        tail = buffer[newline + 1:]
        if (newline >= 0 or self._at_line_start) and _may_start_reply_object(tail):
            self._pending, buffer = tail, buffer[: newline + 1]
        if buffer:
            self._at_line_start = buffer.endswith("\n")
        return self._reader.feed(buffer)

    @property
    def unterminated(self) -> bool:
        """The answer is a JSON object that never closed: the stream was cut short."""
        return isinstance(self._reader, JsonReplyReader) and not self._reader.closed

    def finish(self) -> tuple[str, dict[str, Any] | None]:
        if self._reader is None:
            lead, self._lead = self._lead, ""
            self._reader = TrailerReader()
            shown = self._feed_markdown(lead)
        elif isinstance(self._reader, TrailerReader):
            pending, self._pending = self._pending, ""
            shown = self._reader.feed(pending)
        else:
            shown = ""
        rest, fields = self._reader.finish()
        return shown + rest, fields


def _may_start_reply_object(line: str) -> bool:
    compact = "".join(line.split())
    return bool(line) and _REPLY_OBJECT_START.startswith(compact)


def _shape(lead: str) -> str | None:
    """'json' or 'markdown' once the first characters decide it; None while they cannot.

    A bare object is the JSON answer; inside a ```json fence only an object that starts with
    "reply" is, since a Markdown reply may well open with a JSON code block."""
    text = lead.lstrip()
    if not text:
        return None
    if text.startswith("```"):
        if "\n" not in text:
            return None
        compact = "".join(text.split("\n", 1)[1].split())
        if compact.startswith(_REPLY_OBJECT_START):
            return "json"
        return None if _REPLY_OBJECT_START.startswith(compact) else "markdown"
    if "```".startswith(text):
        return None
    if text[0] != "{":
        return "markdown"
    after = text[1:].lstrip()
    if not after:
        return None
    # `{}` alone: JSON mode with nothing in it (a small model's answer), an empty reply, not text.
    return "json" if after[0] in '"}' else "markdown"


def _partial_marker_length(text: str) -> int:
    """How many characters at the end of `text` could be the start of the trailer marker."""
    if "<" not in text[1 - len(TRAILER_OPEN):]:
        return 0
    for size in range(min(len(TRAILER_OPEN) - 1, len(text)), 0, -1):
        if text.endswith(TRAILER_OPEN[:size]):
            return size
    return 0


def _decode_object(text: str) -> dict[str, Any] | None:
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
    try:
        value, _ = json.JSONDecoder().raw_decode(text.strip())
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)
