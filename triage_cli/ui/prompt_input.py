"""The REPL's input line: history kept under TRIAGE_HOME, suggestions from it, Enter to send,
Alt+Enter (or Esc then Enter) for a new line, pasted text as one message, completion of slash
commands and order ids, and a bottom toolbar."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

from triage_cli.order_ids import ORDER_ID_PATTERN
from triage_cli.private_dirs import create_private_file, make_home

HISTORY_FILE = "chat_history"


class ChatCompleter(Completer):
    """Slash commands at the start of the line; known order ids (those the order_id_pattern
    accepts) after `/order `, or for a word of two or more characters that starts one, ignoring
    case (`a10` -> A1001, `ord-7` -> ORD-777)."""

    def __init__(self, commands: dict[str, str], order_ids: Callable[[], list[str]],
                 pattern: re.Pattern[str] = ORDER_ID_PATTERN) -> None:
        self.commands = commands
        self.order_ids = order_ids
        self.pattern = pattern

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        if text.startswith("/") and " " not in text:
            for name, summary in self.commands.items():
                if name.startswith(text):
                    yield Completion(name, start_position=-len(text), display_meta=summary)
            return
        word = document.get_word_before_cursor(WORD=True)
        if len(word) < 2 and not text.startswith("/order "):
            return
        wanted = word.upper()
        for order_id in self.order_ids():
            if order_id.upper().startswith(wanted) and self.pattern.fullmatch(order_id):
                yield Completion(order_id, start_position=-len(word))


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("enter")
    def _send(event: KeyPressEvent) -> None:
        event.current_buffer.validate_and_handle()

    @bindings.add("escape", "enter")  # Alt+Enter sends the same keys
    def _new_line(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return bindings


class _SafeFileHistory(FileHistory):
    """A history file that degrades to this session's memory when it cannot be read or written,
    instead of interrupting the prompt with an error. `redact` removes secrets before a line
    is written."""

    def __init__(self, filename: str, redact: Callable[[str], str]) -> None:
        super().__init__(filename)
        self.redact = redact

    def load_history_strings(self) -> Iterable[str]:
        try:
            yield from list(super().load_history_strings())
        except (OSError, UnicodeDecodeError):
            return

    def store_string(self, string: str) -> None:
        try:
            super().store_string(self.redact(string))
        except OSError:
            pass


def open_history(home: Path, redact: Callable[[str], str] = str) -> History:
    """The history file under `home`; an in-memory history when it cannot be used."""
    path = home / HISTORY_FILE
    try:
        make_home(home)
        create_private_file(path)  # the questions typed hold customers' details: 0600
        with path.open("a", encoding="utf-8"):
            pass  # it must be a file we can append to
    except OSError:
        return InMemoryHistory()
    return _SafeFileHistory(str(path), redact)


def make_session(
    home: Path, completer: Completer, toolbar: Callable[[], FormattedText], redact: Callable[[str], str] = str
) -> PromptSession[str]:
    return PromptSession(
        history=open_history(home, redact),
        auto_suggest=AutoSuggestFromHistory(),
        completer=completer,
        complete_while_typing=True,
        multiline=True,  # Enter is bound to send; pasted newlines stay in the message
        key_bindings=_key_bindings(),
        bottom_toolbar=toolbar,
        prompt_continuation=lambda width, line_number, wrap_count: "  ",
    )
