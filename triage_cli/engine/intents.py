"""What a customer asks for, read clause by clause: the requests and complaints the order data
cannot settle (a refund, a cancellation, damage, a parcel marked delivered that never came, …).

A word alone decides nothing: "I don't want to cancel", "no need for a refund" and "not charged
twice I hope" name a topic without asking for it. So the message is split into clauses, and in
each a topic counts unless a negation comes before it in the same clause, or the clause only
hopes or worries ("hopefully nothing's broken"). Questions the data answers ("why was it
cancelled?", "did you get my return?") match no request pattern: requests are written as verbs
in the present ("cancel it", "I want to return it"), the data's facts in the past ("cancelled",
"returned"). A few other common languages (es, fr, de, pt, it, nl) are covered for the main requests.
Problems are also read from what happened rather than their name: someone taking or walking off
with a parcel is theft, a tear, a dent or a box that won't power on is damage, "it's not on my
porch" or "none of them have it" about a delivered order is not received.

Some complaints depend on the data: "it never arrived" is a complaint about an order marked
delivered, but only impatience about one still on its way.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from collections.abc import Iterator
from functools import cache, lru_cache
from pathlib import Path
from typing import NamedTuple

TABLE = Path(__file__).with_name("intents.toml")  # package data: the topics and the reading patterns


@dataclass(frozen=True)
class Topic:
    name: str
    means: str
    pattern: re.Pattern[str] | None  # None: the topic is read by its frames only
    negatable: bool = True  # "I don't want a refund" cancels it; "never arrived" is itself the complaint
    request: bool = False  # an action asked for: "why did you cancel it?" asks about the data instead
    needs_delivered: bool = False  # only a complaint about an order the data says was delivered
    whole: bool = False  # also read across clauses ("ordered size M, got size S")
    settled_by_thanks: bool = False  # "thanks for sorting the refund": done, not asked for
    unless: re.Pattern[str] | None = None  # a clause this matches does not raise the topic
    read_when_settled: bool = False  # a story of the past does not settle it ("he moved out last year")
    # Frames: each a set of patterns that must all match in one clause, in any order ("can" +
    # "leave it" + "in the shed"), for requests said in too many ways for one pattern; a part
    # whose name starts with "not_" must not match ("tell me if it comes on Saturday").
    frames: tuple[tuple[Part, ...], ...] = ()
    examples: tuple[str, ...] = ()  # messages that raise it (tests/test_intent_table.py)
    counter_examples: tuple[str, ...] = ()  # messages that name its words but must not raise it
    folded: re.Pattern[str] | None = None  # `pattern` as written, for lower-cased text (see Part)

    def matches(self, text: str, lowered: str | None = None) -> Iterator[int]:
        """Where in `text` the topic is named, lazily: each pattern match's start, then each
        whole frame's first part. `lowered`: `text.lower()`, when it is as long as `text`."""
        if self.pattern:
            found = self.pattern.finditer(text) if self.folded is None or lowered is None else self.folded.finditer(lowered)
            yield from (match.start() for match in found)
        for frame in self.frames:
            parts = [(part.search(text, lowered), part.wanted) for part in frame]
            if all((match is not None) == wanted for match, wanted in parts):
                yield min(match.start() for match, wanted in parts if match is not None and wanted)


class Part(NamedTuple):
    """One part of a frame: its pattern (case ignored), and the same pattern as written for text
    lower-cased first, about twice as fast (None when the pattern names a capital letter)."""

    pattern: re.Pattern[str]
    folded: re.Pattern[str] | None
    wanted: bool

    def search(self, text: str, lowered: str | None) -> re.Match[str] | None:
        if self.folded is None or lowered is None:
            return self.pattern.search(text)
        return self.folded.search(lowered)


@dataclass(frozen=True)
class IntentTable:
    topics: tuple[Topic, ...]
    reading: dict[str, re.Pattern[str]]  # the clause readers' patterns, by name ([reading] in the file)


_PATTERN_CACHE: Path | None = None  # where compiled patterns are kept between runs (compiled_patterns.py)


def keep_compiled_patterns_in(directory: Path | None) -> None:
    """Keep the table's compiled patterns in `directory` (the data directory's cache), so a run
    loads them instead of compiling them; None (the default) compiles every time."""
    global _PATTERN_CACHE
    _PATTERN_CACHE = directory


@cache
def table() -> IntentTable:
    """The intent table, read and compiled on first use (about a fifth of a second; a hundredth
    with the compiled patterns kept), so `--help`, chat at its prompt and a model's turn until its
    answer never pay for it."""
    from triage_cli.engine.compiled_patterns import PatternCache, cache_file

    source = TABLE.read_text(encoding="utf-8")
    data = tomllib.loads(source)
    patterns = PatternCache(cache_file(_PATTERN_CACHE, source))

    def compile_(alternatives: list[str | list[str]], *, ignore_case: bool = True) -> re.Pattern[str]:
        return patterns.compile(_key(alternatives), lambda: _pattern_text(alternatives), ignore_case=ignore_case)

    def folded(alternatives: list[str | list[str]]) -> re.Pattern[str] | None:
        """The pattern as written, for lower-cased text; None when it names a capital letter."""
        return compile_(alternatives, ignore_case=False) if _case_free(_key(alternatives)) else None

    reading = {name: compile_(lines) for name, lines in data["reading"].items()}
    topics = tuple(Topic(
        name=row["name"], means=row["means"], pattern=compile_(row["patterns"]) if row.get("patterns") else None,
        negatable=row.get("negatable", True), request=row.get("request", False),
        needs_delivered=row.get("needs_delivered", False), whole=row.get("whole", False),
        settled_by_thanks=row.get("settled_by_thanks", False),
        unless=compile_(row["unless"]) if row.get("unless") else None,
        read_when_settled=row.get("read_when_settled", False),
        frames=tuple(tuple(Part(compile_(alternatives), folded(alternatives), not name.startswith("not_"))
                           for name, alternatives in frame.items()) for frame in row.get("frames", ())),
        examples=tuple(row.get("examples", ())), counter_examples=tuple(row.get("counter_examples", ())),
        folded=folded(row["patterns"]) if row.get("patterns") else None,
    ) for row in data["topic"])
    patterns.save()
    return IntentTable(topics, reading)


def _key(alternatives: list[str | list[str]]) -> str:
    """The alternatives as one text (a long one's pieces joined): the kept code's key."""
    return "\n".join(a if isinstance(a, str) else "".join(a) for a in alternatives)


def _pattern_text(alternatives: list[str | list[str]]) -> str:
    """One pattern of the alternatives (an alternative too long for a line is a list of pieces,
    joined as one). Those that begin at a word's start (`\\b`) are gathered behind one `(?<!\\w)`:
    the same matches, about seven times faster than a `\\b` tried before each of hundreds of
    alternatives. A list with back-references keeps its order, so its groups keep their numbers."""
    joined = "|".join(a if isinstance(a, str) else "".join(a) for a in alternatives)
    if _BACK_REFERENCE.search(joined):
        return joined
    parts = _top_level(joined)
    at_word = [part[2:] for part in parts if part.startswith("\\b") and part[2:3].isalpha()]
    rest = [part for part in parts if not (part.startswith("\\b") and part[2:3].isalpha())]
    gathered = [f"(?<!\\w)(?:{'|'.join(at_word)})"] if at_word else []
    return "|".join(gathered + rest)


_BACK_REFERENCE = re.compile(r"\\[1-9]|\(\?P=")
_ESCAPED_CHARACTER = re.compile(r"\\(?:x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|N\{[^}]*\}|.)", re.DOTALL)


def _case_free(pattern: str) -> bool:
    """Whether `pattern` matches lower-cased text as it matches any text with case ignored: it
    names no capital letter (as itself or as an escape like `\\u00C9`; `\\W`, `\\S` are classes)."""
    def capital(match: re.Match[str]) -> str:
        code = next((group for group in match.groups() if group), None)
        return "A" if code is not None and chr(int(code, 16)).isupper() or match[0].startswith("\\N") else ""

    return not any(char.isupper() for char in _ESCAPED_CHARACTER.sub(capital, pattern))


def _top_level(pattern: str) -> list[str]:
    """The alternatives of `pattern` at its top level (not inside a group or a character class)."""
    parts, depth, start, i, in_class = [], 0, 0, 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]" or pattern[i + 1:i + 3] == "^]":
                i += 2 if pattern[i + 1] == "]" else 3  # a "]" first in a class is a character
                continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


def topics() -> tuple[Topic, ...]:
    return table().topics


def reading(name: str) -> re.Pattern[str]:
    return table().reading[name]


def warm_up() -> None:
    """Read and compile the table now (in a thread while a model answers, say)."""
    table()


# A negation reaches this many words ahead: "I don't want to cancel" but not "if it's not here by
# Friday I want to cancel".
NEGATION_REACH = 5
_HEDGED = {"damage", "billing", "theft", "wrong item", "missing item"}


def speaks_of_the_journey(text: str) -> bool:
    return reading("journey").search(text) is not None


# The question words again, for misspellings one letter off ("wheres", "wat", "happenin").
_QUESTION_WORDS = ("where", "when", "what", "why", "status", "tracking", "update", "happening")


def asks_about_the_data(text: str) -> bool:
    """Whether the message asks something the order data can answer (or at least asks at all)."""
    if reading("data_question").search(text) is not None:
        return True
    return any(_one_letter_off(word, known) for word in re.findall(r"[a-z]{3,}", text.lower())
               for known in _QUESTION_WORDS)


def _one_letter_off(word: str, known: str) -> bool:
    """One letter added, dropped or changed (not a shorter word than three letters)."""
    if abs(len(word) - len(known)) > 1 or word == known:
        return False
    if len(word) == len(known):
        return sum(a != b for a, b in zip(word, known)) == 1
    short, long = sorted((word, known), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def clauses(text: str) -> list[str]:
    return [clause.text for clause in _read(text)]


@dataclass(frozen=True)
class _Clause:
    text: str
    span: tuple[int, int]
    settled: bool  # told as settled ("… but you sorted it"), or as another order's, shop's or time's
    thanked: bool  # its sentence thanks for something done ("thanks for sorting the return")
    declined: bool  # the next clause declines what this one names ("refund?? nah don't need one")


def _spans(text: str, breaks: re.Pattern[str]) -> list[tuple[int, int]]:
    spans, at = [], 0
    for match in breaks.finditer(text):
        spans.append((at, match.start()))
        at = match.end()
    spans.append((at, len(text)))
    return [(start, end) for start, end in spans if text[start:end].strip()]


@lru_cache(maxsize=256)
def _read(text: str) -> tuple[_Clause, ...]:
    """The message's clauses, each with what its sentence says of it."""
    sentences = _spans(text, reading("sentence_break"))
    spans = _spans(text, reading("clause_break"))
    texts = [text[start:end].strip() for start, end in spans]
    sentence = [next((n for n, (a, b) in enumerate(sentences) if a <= start < b), -1) for start, _ in spans]
    read: list[_Clause] = []
    for n, (start, end) in enumerate(spans):
        clause = texts[n]
        after = texts[n + 1] if n + 1 < len(spans) and sentence[n + 1] == sentence[n] else ""
        # A clause that goes on from a settled one ("…, so the kitchen smells of burnt plastic").
        goes_on = bool(read) and read[-1].settled and sentence[n - 1] == sentence[n] and (
            reading("goes_on").fullmatch(text[spans[n - 1][1]:start]) is not None)
        # "… but your team sorted it" settles the clause before it, unless that clause asks for
        # something itself ("Bitte stornieren, hat sich erledigt": no longer needed).
        resolved_after = _resolved(after) and reading("request_form").search(clause) is None
        settled = reading("ongoing").search(clause) is None and (
            goes_on or reading("elsewhere").search(clause) is not None or _resolved(clause) or resolved_after)
        whole_sentence = text[slice(*sentences[sentence[n]])] if sentence[n] >= 0 else clause
        # A refusal answers the clause before it even across a question mark ("refund?? nah").
        declined = n + 1 < len(spans) and reading("declined").search(texts[n + 1]) is not None
        read.append(_Clause(clause, (start, end), settled, reading("gratitude").search(whole_sentence) is not None,
                            declined))
    return tuple(read)


def _resolved(clause: str) -> bool:
    """A clause that says a problem was sorted ("but your team sorted it fast"), not one asking
    for it to be ("can you get it sorted?"), denying it ("it isn't sorted") or setting a condition."""
    match = reading("resolved").search(clause)
    if match is None or reading("request_form").search(clause) or reading("conditional").search(clause):
        return False
    return not _negated(clause[: match.start()])  # "it isn't sorted"; "no complaints" itself is fine


def raised_topics(text: str, *, delivered: bool = True) -> list[str]:
    """The topics `text` asks for or complains about, in the order of TOPICS. `delivered`: the
    data shows an order delivered (or no order was looked up), so "never arrived" is a complaint."""
    return list(_raised_topics(text, delivered))


@lru_cache(maxsize=256)  # a message is read several times a turn (the policy, the guard, the record)
def _raised_topics(text: str, delivered: bool) -> tuple[str, ...]:
    found: set[str] = set()
    read = _read(text)
    readings = [(clause, False) for clause in read if not clause.declined]
    # The whole message too, for what spans clauses.
    readings.append((_Clause(" ".join(_still_asked(text, read).split()), (0, len(text)), False, False, False), True))
    for clause, whole in readings:
        mood = _Mood.of(clause.text)
        for topic in topics():
            if topic.name not in found and _raises(topic, clause, mood, whole=whole, delivered=delivered):
                found.add(topic.name)
    return tuple(topic.name for topic in topics() if topic.name in found)


@dataclass(frozen=True)
class _Mood:
    """How a clause speaks: hoping or worrying, asking about the past, setting a condition,
    telling of a request not made."""

    hedged: bool
    past: bool
    condition: bool
    not_made: bool

    @classmethod
    def of(cls, text: str) -> _Mood:
        return cls(*(reading(name).search(text) is not None
                     for name in ("hedge", "about_the_past", "condition", "not_made")))


def _raises(topic: Topic, clause: _Clause, mood: _Mood, *, whole: bool, delivered: bool) -> bool:
    if (whole and not topic.whole) or (clause.settled and not topic.read_when_settled):
        return False
    if (topic.needs_delivered and (not delivered or mood.condition)) or (topic.request and mood.past):
        return False
    if (clause.thanked and topic.settled_by_thanks) or (mood.hedged and topic.name in _HEDGED):
        return False
    if (not whole and topic.negatable and mood.not_made) or (topic.unless and topic.unless.search(clause.text)):
        return False
    return any(not (topic.negatable and _negated(clause.text[:start])) for start in _named(clause.text).get(topic.name, ()))


@lru_cache(maxsize=1024)
def _named(text: str) -> dict[str, tuple[int, ...]]:
    """Where each topic is named in `text` (the topics named only), read once per text: the
    patterns are large, and a message's clauses are read by the policy, the guard and the record."""
    lowered = text.lower()
    same = len(lowered) == len(text)  # no letter became two ("İ"): a match's start is the same in both
    named = {topic.name: tuple(topic.matches(text, lowered if same else None)) for topic in topics()}
    return {name: starts for name, starts in named.items() if starts}


def unsettled(text: str) -> str:
    """The message without the clauses told as settled or declined: what is still asked."""
    return _still_asked(text, _read(text))


def _still_asked(text: str, read: tuple[_Clause, ...]) -> str:
    """`text` with its settled and declined clauses blanked out, the rest as written."""
    kept = list(text)
    for clause in read:
        if clause.settled or clause.declined:
            start, end = clause.span
            kept[start:end] = " " * (end - start)
    return "".join(kept)


def names_a_topic(text: str, *, delivered: bool = True) -> bool:
    """Whether any topic's words appear at all, asked for or not, where raised_topics would read
    them (in a clause, or across clauses for a `whole` topic): where it finds none, a negation, a
    hedge or a request not made took them back ("I was going to ask for my money back but I'll
    wait")."""
    texts = [clause.text for clause in _read(text)]
    # A complaint only about an order marked delivered names nothing about one on its way.
    wanted = {topic.name for topic in topics() if delivered or not topic.needs_delivered}
    whole = {topic.name for topic in topics() if topic.whole} & wanted
    return any(wanted & set(_named(part)) for part in texts) or bool(whole & set(_named(text)))


def _negated(before: str) -> bool:
    """Whether a negation among the last NEGATION_REACH words before a topic takes it back. A
    "not" that sets one thing against another ("make it 1kg not 2kg and refund the difference")
    negates no verb."""
    words = before.split()[-NEGATION_REACH:]
    words = [word for n, word in enumerate(words) if not (
        word.lower() == "not" and n > 0 and reading("contrasted").fullmatch(words[n - 1]) is not None)]
    return reading("negation").search(" ".join(words)) is not None
