"""Streaming Markdown: finished blocks freeze, and the pieces equal one full render."""

from __future__ import annotations

import io
import random

from rich.console import Console

from triage_cli.ui.markdown_stream import LinesRenderable, MarkdownStream, render_markdown_lines

DOCUMENT = (
    "# Order A1002\n\nThe parcel is *delayed* by one day\nbecause of weather.\n\n"
    "- carrier: DHL\n- eta: tomorrow\n\n1. check\n2. reply\n\n---\nafter a rule\n\n"
    "```python\nprint('x')\n\nprint('y')\n```\n\n> a quote\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    "Setext heading\n---\n\nA [link](https://example.com/track) at the end."
)


def console() -> Console:
    return Console(file=io.StringIO(), width=60, force_terminal=True, color_system="truecolor")


def full_render(text: str) -> str:
    c = console()
    c.print(LinesRenderable(render_markdown_lines(c, text, 60)))
    return c.file.getvalue()


def streamed_render(text: str, rng: random.Random) -> tuple[str, int]:
    c = console()
    stream = MarkdownStream(c)
    frozen = 0
    i = 0
    while i < len(text):
        n = rng.randint(1, 9)
        stream.feed(text[i:i + n])
        i += n
        finished = stream.take_finished()
        if finished:
            frozen += 1
            c.print(LinesRenderable(stream.render_piece(finished, 60)))
    c.print(LinesRenderable(stream.render_open(60)))
    return c.file.getvalue(), frozen


def test_the_streamed_pieces_equal_a_full_render():
    expected = full_render(DOCUMENT)
    rng = random.Random(7)
    for _ in range(25):
        got, frozen = streamed_render(DOCUMENT, rng)
        assert got == expected
        assert frozen >= 5  # blocks really were frozen along the way


def test_only_the_last_block_stays_open():
    stream = MarkdownStream(console())
    stream.feed("First paragraph.\n\nSecond")
    assert stream.take_finished() is None  # the second block's first line is not complete yet
    stream.feed(" line\n")
    assert stream.take_finished() == "First paragraph.\n\n"
    assert stream.take_finished() is None
    stream.feed(" paragraph, still open")
    assert stream.take_finished() is None


def test_a_half_written_line_never_finishes_a_block():
    stream = MarkdownStream(console())
    stream.feed("Title\n")
    assert stream.take_finished() is None
    stream.feed("---")  # turns the paragraph into a heading: it must not have been frozen
    assert stream.take_finished() is None


def test_an_open_code_fence_keeps_everything_after_it_open():
    stream = MarkdownStream(console())
    stream.feed("```\ncode\n\nmore code\n\n")
    assert stream.take_finished() is None


def test_links_show_their_real_url():
    assert "https://example.com/track" in full_render("[track it](https://example.com/track)")


BLOCKS = [
    "## A heading", "Setext heading\n===", "A paragraph with **bold** and `code`.\nSecond line.",
    "- one\n- two\n  - nested", "1. first\n2. second", "```python\nx = 1\n\ny = 2\n```", "    indented code",
    "> a quote\n> more", "| a | b |\n|---|---|\n| 1 | 2 |", "---", "***", "<div>html block</div>",
    "A [link](https://example.com) and an image ![alt](https://example.com/i.png).",
]


def test_any_sequence_of_block_kinds_streams_to_the_same_lines_as_a_full_render():
    rng = random.Random(11)
    for _ in range(40):
        document = "\n\n".join(rng.choice(BLOCKS) for _ in range(rng.randint(2, 9))) + rng.choice(["", "\n"])
        expected = full_render(document)
        got, _ = streamed_render(document, rng)
        assert got == expected, document


def test_link_reference_definitions_printed_earlier_still_resolve_later_links():
    document = "Intro\n\n[a]: http://x.example\n\nMore [a]\n\nEnd\n"
    for seed in range(10):
        got, _ = streamed_render(document, random.Random(seed))
        assert got == full_render(document)


def test_a_long_code_block_freezes_when_it_closes_and_matches_a_full_render():
    code = "\n".join(f"line_{i} = {i}" for i in range(300))
    document = f"Before.\n\n```python\n{code}\n```\n\nAfter the code.\n\n- a list\n"
    got, frozen = streamed_render(document, random.Random(3))
    assert got == full_render(document)
    assert frozen >= 2


def test_the_live_preview_of_a_huge_open_block_costs_the_window_not_the_block():
    stream = MarkdownStream(console())
    stream.feed("```python\n" + "\n".join(f"x_{i} = {i}" for i in range(2000)) + "\n")
    stream.take_finished()
    preview = stream.preview_open(60, 20)
    assert len(preview) == 20
    assert "x_1999 = 1999" in "".join(s.text for s in preview[-2])  # the newest lines, still as code


def test_character_references_cannot_smuggle_controls_into_the_rendering():
    c = console()
    lines = render_markdown_lines(c, "Refund &#x202E;txt.exe&#x202C; &rlm; &#8232; ok", 60)
    text = "".join(s.text for line in lines for s in line)
    assert not any(ch in text for ch in "\u202e\u202c\u200f\u2028")
    assert "txt.exe" in text and "ok" in text
