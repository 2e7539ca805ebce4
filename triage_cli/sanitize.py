"""Neutralise terminal control sequences in text that came from a model or a tool.

A model reply or an order note could otherwise clear the screen, retitle the window, hide text or
write the clipboard (OSC 52). We drop whole ESC, CSI, OSC, DCS, SOS, PM and APC sequences, C0
controls other than newline and tab, carriage returns, DEL, C1 controls, and bidi override
characters. `StreamSanitizer` keeps its state between chunks, so a sequence split across two
chunks is dropped whole.
"""

from __future__ import annotations

import re

ESC, BEL, ST_C1 = "\x1b", "\x07", "\x9c"
_STRING_OPENERS = {"]": "osc", "P": "dcs", "X": "sos", "^": "pm", "_": "apc"}
_C1_OPENERS = {"\x9b": "csi", "\x9d": "osc", "\x90": "dcs", "\x98": "sos", "\x9e": "pm", "\x9f": "apc"}
# A string sequence that never ends must not swallow the rest of the answer.
MAX_SEQUENCE = 4096

_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
# Characters that never pass untouched: controls but newline and tab, DEL, C1 and bidi controls.
UNSAFE_CHARACTERS = rf"\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\u2028\u2029"
_PLAIN = re.compile(f"[^{UNSAFE_CHARACTERS}]+")


class StreamSanitizer:
    def __init__(self) -> None:
        self._state = "text"  # text | esc | csi | string | string_esc | nf
        self._length = 0

    def feed(self, chunk: str) -> str:
        out: list[str] = []
        i, n = 0, len(chunk)
        while i < n:
            if self._state == "text":
                match = _PLAIN.match(chunk, i)
                if match:
                    out.append(match.group())
                    i = match.end()
                    continue
                self._control(chunk[i], out)
            elif not self._in_sequence(chunk[i]):
                continue  # the sequence was malformed: this character is text again
            i += 1
        return "".join(out)

    def _control(self, char: str, out: list[str]) -> None:
        if char in "\n\t":
            out.append(char)
        elif char == ESC:
            self._enter("esc")
        elif char in _C1_OPENERS:
            self._enter("csi" if _C1_OPENERS[char] == "csi" else "string")
        # every other control (C0, CR, DEL, C1, bidi) is dropped

    def _enter(self, state: str) -> None:
        self._state, self._length = state, 0

    def _in_sequence(self, char: str) -> bool:
        """Advance through a sequence; False when `char` cannot belong to it (it is then text)."""
        self._length += 1
        code = ord(char)
        state = self._state
        if self._length > MAX_SEQUENCE:
            self._state = "text"
            return False
        if state == "esc":
            if char == "[":
                self._enter("csi")
            elif char in _STRING_OPENERS:
                self._enter("string")
            elif 0x20 <= code <= 0x2F:
                self._enter("nf")  # ESC with intermediate bytes, e.g. ESC ( B
            elif 0x30 <= code <= 0x7E:
                self._state = "text"  # a two-character escape: both dropped
            else:
                self._state = "text"
                return False
        elif state in ("csi", "nf"):
            final = range(0x40, 0x7F) if state == "csi" else range(0x30, 0x7F)
            if code in final:
                self._state = "text"
            elif not 0x20 <= code <= 0x3F:
                self._state = "text"  # malformed: drop what we had, keep this character
                return False
        elif state == "string":
            if char in (BEL, ST_C1):
                self._state = "text"
            elif char == ESC:
                self._state = "string_esc"
        elif state == "string_esc":
            self._state = "text" if char == "\\" else "string"
        return True


def clean(text: str) -> str:
    """Sanitize a whole string at once (tool arguments, results, error messages)."""
    return StreamSanitizer().feed(text)


def one_line(text: str) -> str:
    """Sanitized, with every run of whitespace (newlines too) as one space: for table cells,
    `Key: value` lines and the like."""
    return " ".join(clean(text).split())


_JSON_UNSAFE = re.compile(rf"[\x7f-\x9f{_BIDI}\u2028\u2029\ud800-\udfff]")
_LOG_UNSAFE = re.compile(rf"[{UNSAFE_CHARACTERS}\n\t\ud800-\udfff]")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # half a UTF-16 pair: no character, and no UTF-8 for it


def escaped(text: str) -> str:
    """`text` on one line with every control, bidi and lone surrogate character written as its
    escape (`\\x1b`, `\\u202e`): for a log, which should show what arrived without acting on it."""
    return _LOG_UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def json_text(value: object, *, indent: int | None = None) -> str:
    """`value` as JSON (one line unless `indent`), readable (UTF-8) but terminal-safe: C0 controls
    are escaped by JSON itself, and DEL, C1, bidi, line-separator and lone surrogate characters are
    escaped here too (so the text always encodes as UTF-8)."""
    import json

    text = json.dumps(value, ensure_ascii=False, indent=indent, separators=None if indent else (",", ":"))
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
