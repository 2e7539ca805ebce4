"""The intent table's patterns are compiled once per machine (engine/compiled_patterns.py): the
code kept in the data directory's cache gives the same matches as compiling, a damaged or foreign
file is ignored, and the file is private."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from triage_cli.engine import intents
from triage_cli.engine.compiled_patterns import PatternCache, cache_file

TEXTS = [json.loads(line)["message"] for line in
         (Path(intents.__file__).parents[1] / "eval" / "cases" / "blind4.jsonl").read_text().splitlines()]


def fresh_table(directory: Path | None) -> intents.IntentTable:
    intents.keep_compiled_patterns_in(directory)
    intents.table.cache_clear()
    try:
        return intents.table()
    finally:
        intents.keep_compiled_patterns_in(None)
        intents.table.cache_clear()


def starts(table: intents.IntentTable) -> list[list[list[int]]]:
    patterns = [topic.pattern for topic in table.topics if topic.pattern] + list(table.reading.values())
    return [[[m.start() for m in pattern.finditer(text)] for pattern in patterns] for text in TEXTS]


def test_kept_code_matches_what_compiling_gives_and_the_file_is_private(tmp_path):
    compiled = fresh_table(None)
    first = fresh_table(tmp_path)  # compiles, and writes the file
    [kept] = list(tmp_path.glob("patterns-*.marshal"))
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    loaded = fresh_table(tmp_path)  # loads it
    assert starts(loaded) == starts(compiled) == starts(first)


def test_a_damaged_file_is_ignored_and_written_again(tmp_path):
    fresh_table(tmp_path)
    [kept] = list(tmp_path.glob("patterns-*.marshal"))
    kept.write_bytes(b"\x00not marshal at all")
    assert starts(fresh_table(tmp_path)) == starts(fresh_table(None))
    assert kept.read_bytes() != b"\x00not marshal at all"


def test_a_file_whose_code_the_engine_refuses_falls_back_to_compiling(tmp_path):
    path = tmp_path / "patterns.marshal"
    cache = PatternCache(path)
    cache.compile("key", lambda: "broken|dented")
    cache.save()
    import marshal

    data = marshal.loads(path.read_bytes())
    text, flags, code, groups, names = data["key"]
    data["key"] = (text, flags, [999_999] * len(code), groups, names)  # no valid regex program
    path.write_bytes(marshal.dumps(data))
    pattern = PatternCache(path).compile("key", lambda: "broken|dented")
    assert pattern.search("it is DENTED") is not None


def test_the_file_is_named_by_the_table_and_this_python(tmp_path):
    assert cache_file(None, "x") is None
    assert cache_file(tmp_path, "one") != cache_file(tmp_path, "two")
    assert cache_file(tmp_path, "one") == cache_file(tmp_path, "one")


def test_a_pattern_kept_as_written_comes_back_as_written_beside_its_case_ignoring_twin(tmp_path):
    path = tmp_path / "patterns.marshal"
    cache = PatternCache(path)
    cache.compile("key", lambda: "dented")
    cache.compile("key", lambda: "dented", ignore_case=False)
    cache.save()
    kept = PatternCache(path)
    never = lambda: "never compiled again"  # noqa: E731 - both come from the file
    assert kept.compile("key", never).search("DENTED") is not None
    assert kept.compile("key", never, ignore_case=False).search("DENTED") is None
    assert kept.compile("key", never, ignore_case=False).search("dented") is not None
