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


def test_settings_never_show_the_api_key_or_passwords():
    settings = Settings.from_env({"OPENAI_API_KEY": "sk-live-123456", "ASSISTANT_USERS": "ada:hunter2:teacher",
                                  "OPENAI_BASE_URL": "https://me:s3cret@llm.example/v1"})
    for shown in (repr(settings), str(settings), f"{settings!r}", repr([settings])):
        assert "sk-live-123456" not in shown and "hunter2" not in shown and "s3cret" not in shown
        assert "openai_api_key='<set>'" in shown and "llm.example" in shown
    assert settings.openai_api_key == "sk-live-123456"  # still there for the client
    assert "openai_api_key=None" in repr(Settings.from_env({}))


def test_the_library_names_the_index_and_the_old_collection_variable_still_works():
    assert Settings.from_env({}).library == "notes"  # the collections every index had before libraries
    assert Settings.from_env({"ASSISTANT_LIBRARY": "class-a"}).collection == "class-a"
    assert Settings.from_env({"ASSISTANT_COLLECTION": "mine"}).library == "mine"
    assert Settings.from_env({"ASSISTANT_COLLECTION": "mine", "ASSISTANT_LIBRARY": "class-a"}).library == "class-a"
    for bad in ("a", "class a", "x-files", "-notes", "notes/../b"):
        with pytest.raises(AssistantError, match="ASSISTANT_LIBRARY must be"):
            Settings.from_env({"ASSISTANT_LIBRARY": bad})
