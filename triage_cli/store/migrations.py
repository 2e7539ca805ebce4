"""triage's schema, as named migrations (one list for SQLite and PostgreSQL; store/dialect.py
turns each statement into PostgreSQL's). Migration N (1-based) brings a database from version N-1
to N: the version is `PRAGMA user_version` on SQLite and the `triage_schema` table on PostgreSQL.
Never edit a released migration: add a new one. Its own module, so that database.py (SQLite) and
postgres.py both read it without importing each other."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    name: str
    statements: tuple[str, ...]
    postgres: tuple[str, ...] | None = None  # PostgreSQL's own statements, where its SQL differs

    def __iter__(self) -> Iterator[str]:
        return iter(self.statements)

    def for_postgres(self) -> tuple[str, ...]:
        return self.statements if self.postgres is None else self.postgres


# Full-text search (store/search.py): what was said, one row a question, a reply or a ticket note,
# indexed by SQLite's FTS5 (kept current by triggers) or a PostgreSQL tsvector column. A
# conversation's rows go with it; a note's stay with its ticket (conversation_id NULL).
_SEARCH_TABLE = """CREATE TABLE search_text (
            id               INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id  INTEGER REFERENCES conversations (id) ON DELETE CASCADE,
            turn_number      INTEGER,
            ticket_id        INTEGER,
            kind             TEXT NOT NULL,          -- question, reply or note
            at               TEXT NOT NULL,          -- ISO 8601, UTC
            body             TEXT NOT NULL{words}
        )"""
_SEARCH_BY_CONVERSATION = "CREATE INDEX search_text_by_conversation ON search_text (conversation_id)"
_SEARCH_FILLED = (  # what was stored before the index
    "INSERT INTO search_text (conversation_id, turn_number, kind, at, body)"
    " SELECT conversation_id, number, 'question', started_at, question FROM turns WHERE question <> ''",
    "INSERT INTO search_text (conversation_id, turn_number, kind, at, body)"
    " SELECT conversation_id, number, 'reply', COALESCE(finished_at, started_at), partial FROM turns WHERE partial <> ''",
    "INSERT INTO search_text (ticket_id, kind, at, body)"
    " SELECT ticket_id, 'note', at, note FROM ticket_events WHERE note IS NOT NULL AND note <> ''",
)


MIGRATIONS: tuple[Migration, ...] = (
    Migration('tickets', (
        """CREATE TABLE tickets (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at   TEXT NOT NULL,            -- ISO 8601, UTC
            order_id     TEXT,
            issue        TEXT NOT NULL,
            order_status TEXT NOT NULL,
            summary      TEXT NOT NULL,
            question     TEXT NOT NULL,
            reply        TEXT NOT NULL,
            status       TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
            closed_at    TEXT,
            note         TEXT
        )""",
        "CREATE INDEX tickets_by_status ON tickets (status, id)",
    )),
    Migration('conversations', (
        # Conversations (store/sessions.py). A turn is written when it starts (the question, state
        # 'running'), its partial reply while it streams, and everything else in one transaction
        # when it ends, so a killed process leaves at worst a 'running' turn with its partial reply.
        """CREATE TABLE conversations (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at  TEXT NOT NULL,            -- ISO 8601, UTC
            updated_at  TEXT NOT NULL,
            source      TEXT NOT NULL,            -- chat or ask
            provider    TEXT NOT NULL,
            model       TEXT NOT NULL DEFAULT '',
            title       TEXT NOT NULL             -- the first question
        )""",
        "CREATE INDEX conversations_by_update ON conversations (updated_at, id)",
        """CREATE TABLE turns (
            id               INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            number           INTEGER NOT NULL,
            started_at       TEXT NOT NULL,
            finished_at      TEXT,
            state            TEXT NOT NULL DEFAULT 'running'
                             CHECK (state IN ('running', 'complete', 'interrupted')),
            process          TEXT,                 -- pid:start time of the process answering, while running
            provider         TEXT NOT NULL,
            model            TEXT NOT NULL DEFAULT '',
            question         TEXT NOT NULL,
            partial          TEXT NOT NULL DEFAULT '',  -- the reply so far, saved while it streams
            tool_calls       TEXT NOT NULL DEFAULT '[]', -- JSON: name, arguments, ok, result, duration_ms
            record           TEXT,                 -- JSON triage record
            usage            TEXT,                 -- JSON usage
            error            TEXT,
            UNIQUE (conversation_id, number)
        )""",
        """CREATE TABLE messages (
            turn_id   INTEGER NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
            position  INTEGER NOT NULL,
            role      TEXT NOT NULL,
            message   TEXT NOT NULL,              -- one chat-completion message as JSON
            PRIMARY KEY (turn_id, position)
        ) WITHOUT ROWID""",
        """CREATE TABLE conversation_orders (
            conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            order_id         TEXT NOT NULL,
            PRIMARY KEY (conversation_id, order_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX conversation_orders_by_order ON conversation_orders (order_id)",
    )),
    Migration('one open ticket per conversation', (
        # One open ticket per conversation and order (store/tickets.py): a later escalation in the
        # same conversation updates it. No foreign key: pruning a conversation keeps its tickets.
        "ALTER TABLE tickets ADD COLUMN conversation_id INTEGER",
        "ALTER TABLE tickets ADD COLUMN updated_at TEXT",  # ISO 8601, UTC; NULL until updated
        "CREATE INDEX tickets_by_conversation ON tickets (conversation_id, status)",
    )),
    Migration('the queue', (
        # The queue (store/tickets.py): who holds an open ticket, and since when. NULL: nobody.
        "ALTER TABLE tickets ADD COLUMN assignee TEXT",
        "ALTER TABLE tickets ADD COLUMN claimed_at TEXT",  # ISO 8601, UTC
        "CREATE INDEX tickets_by_assignee ON tickets (assignee, status, id)",
    )),
    Migration('agents and ticket events', (
        # The team's agents (store/agents.py): a hash of each one's token, never the token.
        """CREATE TABLE agents (
            name        TEXT PRIMARY KEY,
            token_hash  TEXT NOT NULL UNIQUE,     -- SHA-256 of the token, hex
            lead        INTEGER NOT NULL DEFAULT 0,
            created_at  TEXT NOT NULL,
            rotated_at  TEXT
        )""",
        "CREATE UNIQUE INDEX agents_by_folded_name ON agents (LOWER(name))",
        # What happened to each ticket, by whom and when (store/tickets.py). `agent` NULL: triage.
        """CREATE TABLE ticket_events (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            ticket_id  INTEGER NOT NULL,
            at         TEXT NOT NULL,
            action     TEXT NOT NULL,             -- opened, updated, claimed, released, closed, reopened
            agent      TEXT,
            forced     INTEGER NOT NULL DEFAULT 0, -- a lead acted on a ticket another agent held
            note       TEXT
        )""",
        "CREATE INDEX ticket_events_by_ticket ON ticket_events (ticket_id, id)",
        # The tickets filed before: their opening, and their closing when they are closed.
        "INSERT INTO ticket_events (ticket_id, at, action) SELECT id, created_at, 'opened' FROM tickets",
        "INSERT INTO ticket_events (ticket_id, at, action, agent, note) SELECT id, closed_at, 'closed', assignee, note"
        " FROM tickets WHERE status = 'closed' AND closed_at IS NOT NULL",
    )),
    Migration('the order named with a question', (
        # The order the agent named (--order, /order) is kept beside the customer's words, which
        # are stored as written (before, "Order A1002: " was written into the question).
        "ALTER TABLE turns ADD COLUMN named_order TEXT",
    )),
    Migration('turn leases', (
        # Who may answer a conversation is decided in the database, not by a process id: a running
        # turn's lease (store/sessions.py), renewed while it is answered. A turn running before
        # this migration has none, and reads as interrupted.
        "ALTER TABLE turns ADD COLUMN lease_until TEXT",  # ISO 8601, UTC; NULL once the turn ends
        "CREATE INDEX turns_running ON turns (conversation_id, state)",
    )),
    Migration('search', (
        _SEARCH_TABLE.format(words=""),
        _SEARCH_BY_CONVERSATION,
        "CREATE VIRTUAL TABLE search_index USING fts5(body, content='search_text', content_rowid='id',"
        " tokenize='porter unicode61')",
        "CREATE TRIGGER search_text_added AFTER INSERT ON search_text BEGIN"
        " INSERT INTO search_index (rowid, body) VALUES (new.id, new.body); END",
        "CREATE TRIGGER search_text_removed AFTER DELETE ON search_text BEGIN"
        " INSERT INTO search_index (search_index, rowid, body) VALUES ('delete', old.id, old.body); END",
        *_SEARCH_FILLED,
    ), postgres=(
        _SEARCH_TABLE.format(words=",\n            words tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED"),
        _SEARCH_BY_CONVERSATION,
        "CREATE INDEX search_text_words ON search_text USING GIN (words)",
        *_SEARCH_FILLED,
    )),
    Migration('the figures of a period', (
        # triage stats and /v1/stats read a period's turns and ticket events (store/stats.py).
        "CREATE INDEX turns_by_start ON turns (started_at)",
        "CREATE INDEX ticket_events_by_time ON ticket_events (at)",
    )),
)
