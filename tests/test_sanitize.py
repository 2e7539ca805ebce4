"""Model and tool text never reaches the terminal with control sequences in it."""

from __future__ import annotations

import pytest

from triage_cli.sanitize import StreamSanitizer, clean

ATTACKS = {
    "clear screen": ("before\x1b[2Jafter", "beforeafter"),
    "osc 0 title": ("a\x1b]0;pwned\x07b", "ab"),
    "osc 52 clipboard, ST end": ("a\x1b]52;c;ZWNobyBoaQ==\x1b\\b", "ab"),
    "c1 csi": ("a\x9b2Jb", "ab"),
    "c1 osc": ("a\x9d0;t\x9cb", "ab"),
    "dcs": ("a\x1bPq#0;1\x1b\\b", "ab"),
    "sgr colour": ("\x1b[31mred\x1b[0m", "red"),
    "charset": ("a\x1b(Bb", "ab"),
    "carriage return overwrite": ("safe\rEVIL", "safeEVIL"),
    "c0 and del": ("a\x00\x07\x08\x7fb", "ab"),
    "bidi override": ("file\u202etxt.exe", "filetxt.exe"),
}


@pytest.mark.parametrize("name", ATTACKS)
def test_control_sequences_are_removed(name):
    raw, expected = ATTACKS[name]
    assert clean(raw) == expected


@pytest.mark.parametrize("name", ATTACKS)
def test_a_sequence_split_across_chunks_is_removed_whole(name):
    raw, expected = ATTACKS[name]
    for cut in range(1, len(raw)):
        sanitizer = StreamSanitizer()
        assert sanitizer.feed(raw[:cut]) + sanitizer.feed(raw[cut:]) == expected, cut


def test_ordinary_text_passes_unchanged():
    text = "Order **A1002** — délai d'un jour ☔\n\tindented\n日本語"
    assert clean(text) == text


def test_an_unterminated_sequence_cannot_swallow_the_whole_answer():
    text = "a\x1b]0;" + "x" * 5000 + " tail"
    assert clean(text).endswith(" tail")


def test_a_stray_csi_before_other_scripts_does_not_hide_them():
    assert clean("a\x1b[Привет, мир\nnext") == "aПривет, мир\nnext"
