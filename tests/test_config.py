import pytest
from conftest import run_cli

from assistant.core.config import Settings
from assistant.core.errors import AssistantError


def test_environment_then_flags():
    settings = Settings.from_env({"ASSISTANT_PORT": "9000", "OPENAI_BASE_URL": "http://127.0.0.1:1/v1",
                                  "ASSISTANT_DATA_DIR": "/tmp/from-env"}, data_dir="/tmp/from-flag")
    assert settings.port == 9000 and settings.llm_enabled
    assert str(settings.data_dir) == "/tmp/from-flag"
    assert not Settings.from_env({}).llm_enabled  # offline by default


def test_a_malformed_variable_is_one_sentence():
    with pytest.raises(AssistantError, match="ASSISTANT_PORT must be a number, not 'abc'"):
        Settings.from_env({"ASSISTANT_PORT": "abc"})
    result = run_cli("-m", "assistant", "search", "x", env={"PATH": "/usr/bin", "ASSISTANT_LLM_TIMEOUT": "soon"})
    assert result.returncode == 2 and "ASSISTANT_LLM_TIMEOUT must be a number" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_defaults_are_the_repository_s_knowledge_and_data_folders():
    from conftest import ROOT

    settings = Settings.from_env(environ={})
    assert settings.knowledge_dir == ROOT / "knowledge" and settings.data_dir == ROOT / "data"
    assert (settings.knowledge_dir / "ai-engineering-foundations.md").is_file()
