"""Settings: defaults < config file < environment < flags, presets, keys and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage_cli.config import load_settings
from triage_cli.errors import ConfigError


def settings(tmp_path: Path, flags=None, env=None, config: str | None = None, dotenv: str | None = None):
    config_path = tmp_path / "config.toml"
    config_path.write_text(config or "")
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    environ = {"TRIAGE_CONFIG": str(config_path), "TRIAGE_HOME": str(tmp_path / "home"), **(env or {})}
    return load_settings(flags or {}, environ=environ, cwd=tmp_path)


def test_no_provider_and_no_key_means_offline(tmp_path):
    s = settings(tmp_path)
    assert s.offline and s.model is None and s.api_key is None


def test_an_openai_key_alone_selects_openai_with_its_default_model(tmp_path):
    s = settings(tmp_path, env={"OPENAI_API_KEY": "sk-x"})
    assert (s.provider, s.model, s.base_url) == ("openai", "gpt-4.1-mini", "https://api.openai.com/v1")
    assert s.api_key == "sk-x"


def test_openai_base_url_is_honoured(tmp_path):
    s = settings(tmp_path, env={"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert s.base_url == "http://127.0.0.1:9/v1"


def test_file_then_env_then_flags_each_override_the_layer_below(tmp_path):
    config = 'provider = "groq"\nmodel = "file-model"\ntimeout = 11\n'
    env = {"GROQ_API_KEY": "g"}
    only_file = settings(tmp_path, config=config, env=env)
    assert (only_file.provider, only_file.model, only_file.timeout) == ("groq", "file-model", 11.0)

    with_env = settings(tmp_path, config=config, env={**env, "TRIAGE_MODEL": "env-model", "TRIAGE_TIMEOUT": "22"})
    assert (with_env.provider, with_env.model, with_env.timeout) == ("groq", "env-model", 22.0)

    with_flags = settings(tmp_path, config=config, env={**env, "TRIAGE_MODEL": "env-model"},
                          flags={"model": "flag-model"})
    assert (with_flags.provider, with_flags.model) == ("groq", "flag-model")


def test_a_provider_chosen_higher_up_drops_a_model_meant_for_another_provider(tmp_path):
    s = settings(tmp_path, config='provider = "groq"\nmodel = "openai/gpt-oss-120b"\n',
                 env={"GROQ_API_KEY": "g"}, flags={"provider": "ollama"})
    assert (s.provider, s.model, s.base_url) == ("ollama", "llama3.2", "http://localhost:11434/v1")


def test_provider_slash_model_picks_the_provider(tmp_path):
    s = settings(tmp_path, env={"GROQ_API_KEY": "g"}, flags={"model": "groq/openai/gpt-oss-120b"})
    assert (s.provider, s.model) == ("groq", "openai/gpt-oss-120b")
    assert s.base_url == "https://api.groq.com/openai/v1"


def test_a_slashed_model_is_kept_whole_when_the_provider_is_named(tmp_path):
    s = settings(tmp_path, env={"OPENROUTER_API_KEY": "o"},
                 flags={"provider": "openrouter", "model": "openai/gpt-4o"})
    assert (s.provider, s.model) == ("openrouter", "openai/gpt-4o")


def test_every_preset_resolves_with_its_key(tmp_path):
    keys = {"openai": "OPENAI_API_KEY", "groq": "GROQ_API_KEY", "openrouter": "OPENROUTER_API_KEY",
            "sambanova": "SAMBANOVA_API_KEY", "together": "TOGETHER_API_KEY", "cerebras": "CEREBRAS_API_KEY"}
    for provider, key in keys.items():
        s = settings(tmp_path, env={key: "secret"}, flags={"provider": provider})
        assert s.provider == provider and s.api_key == "secret" and s.model and s.base_url.startswith("https://")
    ollama = settings(tmp_path, flags={"provider": "ollama"})
    assert ollama.api_key  # no key needed; the SDK still gets a placeholder
    vllm = settings(tmp_path, flags={"provider": "vllm", "model": "Qwen/Qwen3-8B"})
    assert (vllm.base_url, vllm.model) == ("http://localhost:8000/v1", "Qwen/Qwen3-8B")


def test_a_missing_key_is_one_line_naming_the_variable(tmp_path):
    with pytest.raises(ConfigError) as caught:
        settings(tmp_path, flags={"provider": "groq"})
    assert "GROQ_API_KEY" in str(caught.value) and "\n" not in str(caught.value)


def test_an_unknown_provider_lists_the_choices(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown provider 'acme'.*groq"):
        settings(tmp_path, flags={"provider": "acme"})


def test_a_base_url_alone_selects_a_custom_endpoint_that_needs_a_model(tmp_path):
    with pytest.raises(ConfigError, match="--model"):
        settings(tmp_path, flags={"base_url": "http://127.0.0.1:8080/v1"})
    s = settings(tmp_path, flags={"base_url": "http://127.0.0.1:8080/v1", "model": "local"})
    assert (s.provider, s.base_url, s.model) == ("custom", "http://127.0.0.1:8080/v1", "local")


def test_a_config_table_defines_a_provider(tmp_path):
    config = '[providers.corp]\nbase_url = "http://llm.corp/v1"\napi_key_env = "CORP_KEY"\nmodel = "big"\n'
    s = settings(tmp_path, config=config, env={"CORP_KEY": "c"}, flags={"provider": "corp"})
    assert (s.provider, s.base_url, s.model, s.api_key) == ("corp", "http://llm.corp/v1", "big", "c")


def test_dotenv_supplies_keys_but_the_real_environment_wins(tmp_path):
    s = settings(tmp_path, dotenv='export OPENAI_API_KEY="from-dotenv"  \n# comment\n')
    assert (s.provider, s.api_key) == ("openai", "from-dotenv")
    s = settings(tmp_path, dotenv="OPENAI_API_KEY=from-dotenv\n", env={"OPENAI_API_KEY": "from-env"})
    assert s.api_key == "from-env"


def test_the_api_key_never_appears_in_repr(tmp_path):
    s = settings(tmp_path, env={"OPENAI_API_KEY": "sk-very-secret"})
    assert "sk-very-secret" not in repr(s)


@pytest.mark.parametrize("config, message", [
    ("provider = ", "invalid TOML"),
    ("colour = 'blue'", "unknown key 'colour'"),
    ("timeout = 'soon'", "'timeout' must be a number of seconds"),
    ("[providers.x]\nurl = 'y'", "unknown key 'url' in [providers.x]"),
])
def test_a_bad_config_file_names_the_file_and_the_problem(tmp_path, config, message):
    with pytest.raises(ConfigError) as caught:
        settings(tmp_path, config=config)
    assert message in str(caught.value) and "config.toml" in str(caught.value)


def test_bad_numbers_in_the_environment_are_reported(tmp_path):
    with pytest.raises(ConfigError, match="timeout must be a number"):
        settings(tmp_path, env={"TRIAGE_TIMEOUT": "soon"})


def test_triage_home_comes_from_the_environment(tmp_path):
    assert settings(tmp_path).home == tmp_path / "home"


def test_a_slashed_model_is_the_named_providers_own_model_whichever_layer_named_it(tmp_path):
    s = settings(tmp_path, env={"TRIAGE_PROVIDER": "groq", "GROQ_API_KEY": "g"}, flags={"model": "openai/gpt-oss-20b"})
    assert (s.provider, s.model) == ("groq", "openai/gpt-oss-20b")
    s = settings(tmp_path, config='provider = "openrouter"\n',
                 env={"TRIAGE_MODEL": "openai/gpt-4o", "OPENROUTER_API_KEY": "o"})
    assert (s.provider, s.model) == ("openrouter", "openai/gpt-4o")


def test_an_explicit_base_url_never_receives_the_openai_key(tmp_path):
    s = settings(tmp_path, env={"OPENAI_API_KEY": "sk-real"},
                 flags={"base_url": "http://127.0.0.1:8080/v1", "model": "local"})
    assert s.provider == "custom" and s.api_key != "sk-real"


def test_dotenv_cannot_redirect_keys_or_swap_settings(tmp_path):
    s = settings(tmp_path, dotenv="OPENAI_API_KEY=k\nOPENAI_BASE_URL=http://evil.example/v1\nTRIAGE_PROVIDER=groq\n")
    assert (s.provider, s.base_url) == ("openai", "https://api.openai.com/v1")


def test_dotenv_quoted_values_may_carry_comments(tmp_path):
    s = settings(tmp_path, dotenv='OPENAI_API_KEY="sk-abc" # my key\n')
    assert s.api_key == "sk-abc"


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-3"])
def test_timeouts_must_be_finite_and_positive(tmp_path, value):
    with pytest.raises(ConfigError, match="timeout"):
        settings(tmp_path, env={"TRIAGE_TIMEOUT": value})


def test_a_bad_base_url_in_a_provider_table_names_the_file_and_line(tmp_path):
    config = 'provider = "mine"\n\n[providers.mine]\nmodel = "m"\nbase_url = "localhost:8000/v1"\n'
    with pytest.raises(ConfigError) as caught:
        settings(tmp_path, config=config)
    assert str(caught.value).startswith(f"{tmp_path / 'config.toml'}, line 5: the base URL must look like")
    with pytest.raises(ConfigError, match="^TRIAGE_BASE_URL: the base URL"):
        settings(tmp_path, env={"TRIAGE_PROVIDER": "custom", "TRIAGE_MODEL": "m", "TRIAGE_BASE_URL": "ftp://x"})
    with pytest.raises(ConfigError, match="^--base-url: the base URL"):
        settings(tmp_path, flags={"base_url": "nonsense", "model": "m"})


def test_structured_output_is_checked_offline_too_with_where_it_came_from(tmp_path):
    with pytest.raises(ConfigError) as caught:
        settings(tmp_path, config='structured_output = "maybe"\n')
    assert str(caught.value) == (f"{tmp_path / 'config.toml'}, line 1: structured_output must be one of "
                                 "auto, json_schema, json_object, off, got 'maybe'")
    with pytest.raises(ConfigError, match="^TRIAGE_STRUCTURED_OUTPUT: structured_output must be"):
        settings(tmp_path, env={"TRIAGE_STRUCTURED_OUTPUT": "maybe"})
    assert settings(tmp_path, env={"TRIAGE_STRUCTURED_OUTPUT": "OFF"}).structured_output == "off"


def test_every_setting_knows_where_it_came_from(tmp_path):
    config = 'provider = "groq"\ntimeout = 11\n'
    s = settings(tmp_path, flags={"model": "flag-model"}, config=config,
                 env={"GROQ_API_KEY": "g", "TRIAGE_ORDERS_DB": "/tmp/orders.db"})
    path = tmp_path / "config.toml"
    assert s.sources["provider"] == f"{path}, line 1" and s.sources["timeout"] == f"{path}, line 2"
    assert s.sources["model"] == "--model" and s.sources["orders_db"] == "TRIAGE_ORDERS_DB"
    assert s.sources["base_url"] == "the provider preset" and s.sources["retries"] == "default"
    assert settings(tmp_path).sources["provider"] == "default"
    assert settings(tmp_path, env={"OPENAI_API_KEY": "k"}).sources["provider"] == "chosen by OPENAI_API_KEY"


def test_database_url_and_agent_name_from_the_file_and_the_environment(tmp_path):
    from triage_cli.config import load_store_settings
    from triage_cli.config_report import settings_with_sources

    s = settings(tmp_path, config='database_url = "postgresql://sam:hunter22@db/triage"\nagent_name = "sam"\n')
    assert (s.database_url, s.agent_name) == ("postgresql://sam:hunter22@db/triage", "sam")
    assert "hunter22" not in repr(s)
    shown = settings_with_sources(s, environ={"TRIAGE_CONFIG": str(tmp_path / "config.toml")})["settings"]
    assert shown["database_url"]["value"] == "postgresql://sam:***@db/triage"
    env = {"TRIAGE_CONFIG": str(tmp_path / "config.toml"), "TRIAGE_DATABASE_URL": "", "TRIAGE_AGENT_NAME": "ann"}
    assert load_store_settings(env).agent_name == "ann"
    unset = settings(tmp_path)  # an empty config file
    assert unset.database_url is None and unset.agent_name  # the login name
    with pytest.raises(ConfigError, match=r"^database_url \(TRIAGE_DATABASE_URL\) must be a postgresql:// URL"):
        settings(tmp_path, env={"TRIAGE_DATABASE_URL": "sqlite:///x.db"})
