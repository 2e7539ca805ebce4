"""config.example.toml stays valid and documents every key the loader accepts."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from triage_cli.config import load_settings
from triage_cli.settings_table import BY_KEY as _FILE_KEYS, PROVIDER_TABLE_KEYS as _PROVIDER_TABLE_KEYS

EXAMPLE = Path(__file__).parent.parent / "config.example.toml"


def uncommented() -> str:
    """The example with every `# key = value` line switched on."""
    return "\n".join(re.sub(r"^# (\[?[a-z_.]+\]?( = .*)?)$", r"\1", line) for line in EXAMPLE.read_text().splitlines())


def test_every_key_is_documented():
    text = EXAMPLE.read_text()
    for key in _FILE_KEYS:
        assert re.search(rf"^# {key} = |^# \[{key}\.", text, re.MULTILINE), key
    for key in _PROVIDER_TABLE_KEYS:
        assert f"# {key} = " in text, key


def test_the_example_with_everything_switched_on_loads(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(uncommented())
    assert tomllib.loads(config.read_text())["provider"] == "groq"
    settings = load_settings({}, environ={"TRIAGE_CONFIG": str(config), "GROQ_API_KEY": "g"}, cwd=tmp_path)
    assert (settings.provider, settings.model, settings.max_rounds) == ("groq", "openai/gpt-oss-120b", 5)
