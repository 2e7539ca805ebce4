"""Finding what was said: every question, reply and ticket note, in a full-text index the stores
keep current as they write (the `search` migration made it and filled it from what was there).
SQLite ranks with FTS5's bm25 (Porter stemming, so "refunded" finds "refund"); PostgreSQL with
its English text search (`ts_rank`, stemming too). Both mark the matched words in the context
they return, the same way, so every front end shows a hit alike."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from triage_cli.errors import InvalidValue
from triage_cli.record_types import SearchHit
from triage_cli.sanitize import clean
from triage_cli.store.backend import Database
from triage_cli.store.dialect import Connection
from triage_cli.store.database import now

MAX_WORDS = 16  # a search takes the first this many words
_WORD = re.compile(r"\w+")
_START, _END = "\x02", "\x03"  # around a matched word in the context the database returns
_MARKED = re.compile(f"{_START}(.*?){_END}", re.DOTALL)
_CONTEXT_WORDS = 16  # words of context around the match
_BRACKET = {_START: "", _END: "", "\x04": "<", "\x05": ">"}  # markers out, PostgreSQL's brackets back
_BRACKETS = re.compile("[\x02-\x05]")

_SHOWN = ("SELECT COALESCE(s.conversation_id, t.conversation_id) AS conversation_id, s.turn_number, s.ticket_id,"
          " s.kind, s.at, {context} AS context")
_SQLITE = (_SHOWN.format(context=f"snippet(search_index, 0, char(2), char(3), '…', {_CONTEXT_WORDS})") +
           " FROM search_index JOIN search_text s ON s.id = search_index.rowid"
           " LEFT JOIN tickets t ON t.id = s.ticket_id"
           " WHERE search_index MATCH ? ORDER BY bm25(search_index), s.id DESC LIMIT ?")
# ts_headline drops what its parser takes for markup ("<b>"): the brackets go in as control
# characters and come back out in marked_parts, so the context is the text as it was stored.
_POSTGRES = (_SHOWN.format(context="ts_headline('english', translate(s.body, '<>', chr(4) || chr(5)), q, ?)") +
             " FROM search_text s CROSS JOIN plainto_tsquery('english', ?) AS q"
             " LEFT JOIN tickets t ON t.id = s.ticket_id"
             " WHERE s.words @@ q ORDER BY ts_rank(s.words, q) DESC, s.id DESC LIMIT ?")
_HEADLINE = f"StartSel={_START}, StopSel={_END}, MaxWords={_CONTEXT_WORDS + 8}, MinWords={_CONTEXT_WORDS // 2}"


def indexed(db: Connection, kind: str, body: str, *, conversation_id: int | None = None,
            turn_number: int | None = None, ticket_id: int | None = None, order: str | None = None) -> None:
    """Add a text to the index, in the caller's transaction (nothing for an empty one): as it
    reads on a screen (terminal escapes out, so what shows is what is found and a match never
    splits one), with the order it is about (`order`, the one named beside it) after it."""
    body = clean(body) + (f" (order {order})" if order else "")
    if body.strip():
        db.execute("INSERT INTO search_text (conversation_id, turn_number, ticket_id, kind, at, body)"
                   " VALUES (?, ?, ?, ?, ?, ?)", (conversation_id, turn_number, ticket_id, kind, now(), body))


def search_words(text: str) -> list[str]:
    """The words a search looks for; a search with none is refused."""
    words = _WORD.findall(text)[:MAX_WORDS]
    if not words:
        raise InvalidValue("search for words, letters or digits, e.g. refund A1002")
    return words


def search(database: Database, text: str, limit: int) -> list[SearchHit]:
    """The stored texts with every word of `text`, best match first."""
    words = search_words(text)
    with database.opened("the search index") as db:
        if db.postgres:
            rows = db.execute(_POSTGRES, (_HEADLINE, " ".join(words), limit)).fetchall()
            if not rows and db.execute("SELECT numnode(plainto_tsquery('english', ?))", (" ".join(words),)).fetchone()[0] == 0:
                raise InvalidValue("PostgreSQL's search leaves out common words (the, it, is, …), and these are all "
                                   "such words: search for something more particular")
        else:
            rows = db.execute(_SQLITE, (" ".join(f'"{word}"' for word in words), limit)).fetchall()
    return [_hit(row) for row in rows]


def _hit(row: Sequence[Any]) -> SearchHit:
    conversation_id, turn, ticket_id, kind, at, context = row
    return SearchHit(kind=kind, at=at, parts=marked_parts(context or ""), conversation_id=conversation_id,
                     turn=turn, ticket_id=ticket_id)


def marked_parts(context: str) -> tuple[tuple[str, bool], ...]:
    """The database's context, its marked words split out: (text, matched) pairs."""
    parts: list[tuple[str, bool]] = []
    position = 0
    for match in _MARKED.finditer(context):
        parts += [(context[position:match.start()], False), (match.group(1), True)]
        position = match.end()
    parts.append((context[position:], False))
    return tuple((_BRACKETS.sub(lambda m: _BRACKET[m.group()], text), hit) for text, hit in parts if text)
