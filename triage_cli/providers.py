"""Provider presets: where each OpenAI-compatible service lives and which key it needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Provider:
    name: str
    base_url: str | None
    key_env: str | None  # None: the service needs no key
    default_model: str | None
    key_required: bool = True


OFFLINE = "offline"
CUSTOM = "custom"

PRESETS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider("openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "gpt-4.1-mini"),
        Provider("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY", "openai/gpt-oss-120b"),
        Provider("ollama", "http://localhost:11434/v1", None, "llama3.2", key_required=False),
        Provider("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", "openai/gpt-4.1-mini"),
        Provider("sambanova", "https://api.sambanova.ai/v1", "SAMBANOVA_API_KEY", "Meta-Llama-3.3-70B-Instruct"),
        Provider("vllm", "http://localhost:8000/v1", "VLLM_API_KEY", None, key_required=False),
        Provider("together", "https://api.together.xyz/v1", "TOGETHER_API_KEY", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
        Provider("cerebras", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY", "gpt-oss-120b"),
        # Any other OpenAI-compatible server: --base-url URL --model NAME (key in TRIAGE_API_KEY if it needs one).
        Provider(CUSTOM, None, "TRIAGE_API_KEY", None, key_required=False),
        Provider(OFFLINE, None, None, None, key_required=False),
    )
}


def without_credentials(url: str) -> str:
    """The URL without any user:password in it, for messages."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return url.rpartition("@")[2]
    if not parts.username and not parts.password:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def preset(name: str, overrides: Mapping[str, str] | None = None) -> Provider:
    """The preset called `name`, with a config file's [providers.NAME] table applied over it.

    A table for a name that is not built in defines a new provider (it then needs a base_url).
    """
    base = PRESETS.get(name)
    if base is None:
        base = Provider(name, None, None, None, key_required=False)
    if not overrides:
        return base
    return replace(
        base,
        base_url=overrides.get("base_url", base.base_url),
        key_env=overrides.get("api_key_env", base.key_env),
        default_model=overrides.get("model", base.default_model),
        key_required=True if "api_key_env" in overrides else base.key_required,
    )


def known(name: str, tables: Mapping[str, object]) -> bool:
    return name in PRESETS or name in tables
