"""Stored conversations: every question, tool round, answer, triage record and usage, a turn at
a time, in the state database under TRIAGE_HOME (store/database.py has the schema).

A turn is written three ways: when it starts (the question, state 'running', so nothing the user
typed is lost), its partial reply while it streams, and the rest in one transaction when it ends.

Who may answer is decided here, in the database every process and replica shares, never by a
process id: a running turn holds a **lease** (`lease_until`), renewed while it is answered
(`renew`, a heartbeat a third of the lease apart). While it is live, no other turn begins in that
conversation (`ConversationBusy`: the server's 409, from any replica) and nothing deletes the
conversation; once it has lapsed (its process or replica died mid-answer), the turn reads back as
interrupted for everyone, with the reply as far as it got, and the next turn begins. API keys are
never among what is written.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from triage_cli.errors import ConversationBusy, InvalidValue, NotFound, StoreError
from triage_cli.record_types import parse_row_id
from triage_cli.store.database import Database, as_database, iso, now
from triage_cli.store.dialect import Connection
from triage_cli.store.search import indexed
from triage_cli.record_types import LATEST, StoredConversation, StoredTurn

ABANDONED = "the process ended mid-answer"
LEASE_SECONDS = 30.0  # a running turn no one renews for this long was abandoned (turn_lease_seconds)
PRUNE_BATCH = 200  # conversations deleted per transaction, so other processes never wait long
READ_BATCH = 200  # conversations read per query


class ConversationGone(StoreError):
    """The conversation being continued was deleted (pruned) meanwhile."""


@dataclass(frozen=True)
class TurnHandle:
    conversation_id: int
    turn_id: int
    number: int


class SessionStore:
    """Conversations in the state database (a data directory means its SQLite file). Each call
    takes a connection for itself only, so a long REPL session never holds the database and
    other processes can write."""

    def __init__(self, database: Database | Path, *, lease_seconds: float = LEASE_SECONDS,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.database = as_database(database)
        self.lease_seconds = lease_seconds
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    def _lease(self) -> str:
        return iso(self.clock() + timedelta(seconds=self.lease_seconds))

    def _connection(self) -> AbstractContextManager[Connection]:
        return self.database.opened("the conversation store")

    def _transaction(self) -> AbstractContextManager[Connection]:
        return self.database.transaction("the conversation store")

    # writing -----------------------------------------------------------------------------------

    def begin_turn(self, conversation_id: int | None, *, source: str, provider: str, model: str,
                   question: dict[str, Any], order_ids: Sequence[str] = (), ours: Sequence[int] = ()) -> TurnHandle:
        """Store the question of a new turn (in a new conversation when `conversation_id` is None),
        with the order ids it names, so even a turn that never finishes is found by order. `ours`:
        turns the caller began and could not finish (the database was away): ended as
        interrupted whatever their leases say."""
        moment = now()
        text = question.get("content") or ""
        with self._transaction() as db:
            if conversation_id is None:
                conversation_id = db.insert(
                    "INSERT INTO conversations (created_at, updated_at, source, provider, model, title)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (moment, moment, source, provider, model, " ".join(text.split())[:200]),
                )
            elif db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone() is None:
                raise ConversationGone(f"conversation {conversation_id} was deleted (pruned)")
            else:
                self._take_over(db, conversation_id, ours)
            number = db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM turns WHERE conversation_id = ?",
                                (conversation_id,)).fetchone()[0]
            turn_id = db.insert(
                "INSERT INTO turns (conversation_id, number, started_at, lease_until, provider, model, question,"
                " named_order) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, number, moment, self._lease(), provider, model, text, question.get("order")),
            )
            db.execute("INSERT INTO messages (turn_id, position, role, message) VALUES (?, 0, ?, ?)",
                       (turn_id, question["role"], json.dumps(question, ensure_ascii=False)))
            indexed(db, "question", text, conversation_id=conversation_id, turn_number=number,
                    order=question.get("order"))
            db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (moment, conversation_id))
            self._add_orders(db, conversation_id, order_ids)
        return TurnHandle(conversation_id, turn_id, number)

    def _take_over(self, db: Connection, conversation_id: int, ours: Sequence[int]) -> None:
        """In begin_turn's transaction: ConversationBusy while a turn of the conversation holds a
        live lease (not one of `ours`); a lapsed one is ended as interrupted (its answerer is gone)."""
        for row in db.execute("SELECT id, lease_until, number, partial FROM turns"
                              " WHERE conversation_id = ? AND state = 'running'", (conversation_id,)).fetchall():
            if self._live(row[1]) and row[0] not in ours:
                raise ConversationBusy(f"conversation {conversation_id} is answering a turn; "
                                       "send the next one when it is done")
            db.execute("UPDATE turns SET state = 'interrupted', error = ?, lease_until = NULL WHERE id = ?",
                       (ABANDONED, row[0]))
            indexed(db, "reply", row[3], conversation_id=conversation_id, turn_number=row[2])  # as far as it got

    def _live(self, lease_until: str | None) -> bool:
        return lease_until is not None and lease_until > iso(self.clock())

    def renew(self, turn: TurnHandle) -> bool:
        """Extend the turn's lease (the heartbeat); False when it is no longer running."""
        with self._connection() as db:
            return db.execute("UPDATE turns SET lease_until = ? WHERE id = ? AND state = 'running'",
                              (self._lease(), turn.turn_id)).rowcount > 0

    @staticmethod
    def _add_orders(db: Connection, conversation_id: int, order_ids: Sequence[str]) -> None:
        db.executemany("INSERT INTO conversation_orders (conversation_id, order_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                       [(conversation_id, order_id) for order_id in order_ids])

    def save_partials(self, replies: Sequence[tuple[TurnHandle, str]]) -> None:
        """The replies so far of turns still running, in one transaction, so a killed process
        loses at most the last moment of them."""
        with self._transaction() as db:
            db.executemany("UPDATE turns SET partial = ? WHERE id = ? AND state = 'running'",
                           [(partial, turn.turn_id) for turn, partial in replies])

    def finish_turn(self, turn: TurnHandle, *, complete: bool, messages: Sequence[dict[str, Any]], partial: str,
                    tool_calls: Sequence[dict[str, Any]], record: dict[str, Any] | None,
                    usage: dict[str, Any] | None, error: str | None, order_ids: Sequence[str],
                    answered_by: str | None = None) -> None:
        """Everything after the question, in one transaction: the tool rounds and the answer (as
        chat messages), the record, the usage, and the order ids the turn was about.
        `answered_by`: the engine that stood in for the model ("offline"), stored as the turn's."""
        moment = now()
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO messages (turn_id, position, role, message) VALUES (?, ?, ?, ?)",
                [(turn.turn_id, position, m["role"], json.dumps(m, ensure_ascii=False))
                 for position, m in enumerate(messages, 1)],
            )
            db.execute(
                "UPDATE turns SET finished_at = ?, state = ?, lease_until = NULL, partial = ?, tool_calls = ?, record = ?,"
                " usage = ?, error = ? WHERE id = ?",
                (moment, "complete" if complete else "interrupted", partial, json.dumps(list(tool_calls), ensure_ascii=False),
                 _json_or_none(record), _json_or_none(usage), error, turn.turn_id),
            )
            if answered_by is not None:
                db.execute("UPDATE turns SET provider = ?, model = '' WHERE id = ?", (answered_by, turn.turn_id))
                if turn.number == 1:  # the conversation is listed by who answered its first question
                    db.execute("UPDATE conversations SET provider = ?, model = '' WHERE id = ?",
                               (answered_by, turn.conversation_id))
            self._add_orders(db, turn.conversation_id, order_ids)
            indexed(db, "reply", partial, conversation_id=turn.conversation_id, turn_number=turn.number)
            db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (moment, turn.conversation_id))

    def delete(self, conversation_id: int) -> StoredConversation:
        """Delete one conversation with its turns and messages (its tickets stay); returns it as
        it was. One a process is answering in right now is refused."""
        with self._transaction() as db:
            row = db.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if row is None:
                raise NotFound(f"no conversation {conversation_id}", kind="conversation")
            gone = _read_conversations(db, [row], messages=False, live=self._live)[0]
            if any(turn.state == "running" for turn in gone.turns):
                raise InvalidValue(f"conversation {conversation_id} is being answered right now; try again when it ends")
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        return gone

    def prunable(self, before: datetime) -> list[int]:
        """The conversations `prune(before)` would delete."""
        with self._connection() as db:
            candidates = [row[0] for row in db.execute(
                "SELECT id FROM conversations WHERE updated_at < ? ORDER BY id", (iso(before),))]
            busy = {row[0] for row in db.execute(
                "SELECT conversation_id, lease_until FROM turns WHERE state = 'running'")
                if self._live(row[1])} if candidates else set()
        return [c for c in candidates if c not in busy]

    def prune(self, before: datetime) -> int:
        """Delete the conversations with no activity since `before`, a batch per transaction,
        except one a process is answering in right now; returns how many were deleted."""
        doomed = self.prunable(before)
        for start in range(0, len(doomed), PRUNE_BATCH):
            batch = doomed[start:start + PRUNE_BATCH]
            with self._transaction() as db:
                db.execute(f"DELETE FROM conversations WHERE id IN ({','.join('?' * len(batch))}) AND updated_at < ?",
                           (*batch, iso(before)))
        return len(doomed)

    # reading -----------------------------------------------------------------------------------

    def list(self, *, limit: int | None = None, order_id: str | None = None,
             among: Sequence[int] | None = None) -> list[StoredConversation]:
        """Conversations, the most recently active first, with their turns but not their messages;
        about `order_id`, or `among` these ids, when given."""
        where, params = "", list[str | int]()
        if order_id:
            where = "WHERE id IN (SELECT conversation_id FROM conversation_orders WHERE order_id = ?)"
            params.append(order_id.upper())
        elif among is not None:
            among = builtins.list(among)
            where = f"WHERE id IN ({','.join('?' * len(among)) or 'NULL'})"
            params.extend(among)
        sql = f"SELECT * FROM conversations {where} ORDER BY updated_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._connection() as db:
            rows = db.execute(sql, params).fetchall()
            return _read_conversations(db, rows, messages=False, live=self._live)

    def get(self, conversation_id: int) -> StoredConversation:
        with self._connection() as db:
            row = db.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if row is None:
                raise NotFound(f"no conversation {conversation_id}", kind="conversation")
            return _read_conversations(db, [row], messages=True, live=self._live)[0]

    def latest_id(self) -> int:
        with self._connection() as db:
            row = db.execute("SELECT id FROM conversations ORDER BY updated_at DESC, id DESC LIMIT 1").fetchone()
        if row is None:
            raise NotFound("no stored conversations yet", kind="conversation")
        return int(row[0])

    def resolve(self, text: str | None) -> int:
        """A conversation id from the command line: a number, or `last`/none for the latest."""
        if text is None or text.strip().lower() in LATEST:
            return self.latest_id()
        conversation_id = parse_row_id(text)
        if conversation_id is None:
            raise InvalidValue(f"a conversation id is a number like 12 (or 'last'), got '{text[:40]}'")
        return conversation_id


def _read_conversations(db: Connection, rows: Sequence[Any], *, messages: bool,
                        live: Callable[[str | None], bool]) -> list[StoredConversation]:
    """The conversations of `rows` with their orders and turns, read in a query or two for
    all of them (a round trip to a database server costs more than the query), a batch at a time
    (SQLite takes at most 32,766 parameters a statement)."""
    if len(rows) > READ_BATCH:
        return [c for start in range(0, len(rows), READ_BATCH)
                for c in _read_conversations(db, rows[start:start + READ_BATCH], messages=messages, live=live)]
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    among = f"IN ({','.join('?' * len(ids))})"
    orders: dict[int, list[str]] = {}
    for r in db.execute(f"SELECT conversation_id, order_id FROM conversation_orders WHERE conversation_id {among}"
                        " ORDER BY order_id", ids):
        orders.setdefault(r[0], []).append(r[1])
    turn_rows = db.execute(f"SELECT * FROM turns WHERE conversation_id {among} ORDER BY conversation_id, number",
                           ids).fetchall()
    stored: dict[int, list[dict[str, Any]]] = {}
    if messages and turn_rows:
        turn_ids = [t["id"] for t in turn_rows]
        for m in db.execute(f"SELECT turn_id, message FROM messages WHERE turn_id IN ({','.join('?' * len(turn_ids))})"
                            " ORDER BY turn_id, position", turn_ids):
            stored.setdefault(m[0], []).append(json.loads(m[1]))
    turns: dict[int, list[StoredTurn]] = {}
    for t in turn_rows:
        state = t["state"]
        if state == "running" and not live(t["lease_until"]):
            state = "interrupted"  # its lease lapsed: whoever answered it died mid-answer
        turns.setdefault(t["conversation_id"], []).append(StoredTurn(
            number=t["number"], started_at=t["started_at"], finished_at=t["finished_at"], state=state,
            provider=t["provider"], model=t["model"], question=t["question"], partial=t["partial"],
            tool_calls=tuple(json.loads(t["tool_calls"])), record=_loads(t["record"]), usage=_loads(t["usage"]),
            error=t["error"] or (ABANDONED if t["state"] == "running" and state != "running" else None),
            messages=tuple(stored.get(t["id"], ())), order=t["named_order"],
        ))
    return [StoredConversation(
        id=row["id"], created_at=row["created_at"], updated_at=row["updated_at"], source=row["source"],
        provider=row["provider"], model=row["model"], title=row["title"], order_ids=tuple(orders.get(row["id"], ())),
        turns=tuple(turns.get(row["id"], ())),
    ) for row in rows]


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)
