import pytest
from conftest import run_cli

from assistant.ui.auth import (
    AuthConfigError,
    checker,
    is_loopback,
    load_users,
    require_login_when_shared,
)


def test_users_come_from_a_file_and_the_environment(tmp_path):
    users_file = tmp_path / "users.txt"
    users_file.write_text("# class of 2026\nalice:wonder:land\n\nbob:builder\n")
    users = load_users(users_file, "carol:singer")
    assert users == {"alice": "wonder:land", "bob": "builder", "carol": "singer"}
    check = checker(users)
    assert check("alice", "wonder:land") and not check("alice", "wrong") and not check("mallory", "x")


def test_a_bad_users_line_is_reported_without_the_password(tmp_path):
    users_file = tmp_path / "users.txt"
    users_file.write_text("alice-secret-no-colon\n")
    with pytest.raises(AuthConfigError) as info:
        load_users(users_file, None)
    assert "alice-secret" not in str(info.value)


def test_sharing_beyond_loopback_requires_logins():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    require_login_when_shared("127.0.0.1", {})
    require_login_when_shared("0.0.0.0", {"alice": "pw"})
    with pytest.raises(AuthConfigError, match="ASSISTANT_USERS_FILE"):
        require_login_when_shared("0.0.0.0", {})


def test_the_app_refuses_to_listen_on_all_addresses_without_logins(tmp_path):
    result = run_cli("app.py", "--host", "0.0.0.0", "--db", str(tmp_path / "data"), timeout=120)
    assert result.returncode == 2
    assert "require logins" in result.stderr and "Traceback" not in result.stderr
