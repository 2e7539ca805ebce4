"""redaction.py: the one place secrets are replaced, for the journal, the session, the front ends
and the server; agent tokens are recognised by their shape even when none is configured."""

from __future__ import annotations

import re

from triage_cli.redaction import AGENT_TOKEN_PREFIX, REDACTED, Redactor, new_agent_token


def test_a_new_agent_token_has_the_documented_shape_and_is_new_each_time() -> None:
    tokens = {new_agent_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(re.fullmatch(r"trg_[A-Za-z0-9_-]{43}", token) for token in tokens)
    assert AGENT_TOKEN_PREFIX == "trg_"


def test_agent_tokens_are_redacted_unconfigured_in_strings_and_nested_values() -> None:
    token = new_agent_token()
    redactor = Redactor(["sk-live-0123456789", "short", None])
    assert redactor.secrets == ("sk-live-0123456789",)  # a short value is a placeholder, not a secret
    assert redactor.text(f"a {token} and sk-live-0123456789, trg_short") == f"a {REDACTED} and {REDACTED}, trg_short"
    assert redactor.value({"a": [f"x{token}", 3], "b": ("sk-live-0123456789",)}) == {
        "a": [f"x{REDACTED}", 3], "b": [REDACTED]}


def test_a_secret_containing_another_is_replaced_whole() -> None:
    assert Redactor(["sk-live-0123", "sk-live-0123456789"]).text("k=sk-live-0123456789") == f"k={REDACTED}"


def test_the_stream_redactor_replaces_a_key_and_an_agent_token_split_anywhere() -> None:
    token = new_agent_token()
    key = "sk-live-0123456789"
    text = f"your key is {key}, the token {token}; trg_ and sk- are prefixes, the end: tr"
    expected = text.replace(key, REDACTED).replace(token, REDACTED)
    for cut in range(1, len(text)):
        for second in range(cut + 1, len(text) + 1, 5):
            stream = Redactor([key]).stream()
            pieces = [text[:cut], text[cut:second], text[second:]]
            assert "".join(stream.feed(p) for p in pieces) + stream.flush() == expected, (cut, second)
