import os

import pytest
from conftest import run_cli

from assistant.ui.auth import (
    AuthConfigError,
    Login,
    checker,
    is_loopback,
    load_users,
    require_login_when_shared,
    role_of,
)


def test_users_come_from_a_file_and_the_environment(tmp_path):
    users_file = tmp_path / "users.txt"
    users_file.write_text("# class of 2026\nalice:wonder:land\n\nbob:builder\n")
    users = load_users(users_file, "carol:singer")
    # The form before roles: everything after the first colon is the password, and a learner.
    assert users == {"alice": Login("wonder:land"), "bob": Login("builder"), "carol": Login("singer")}
    check = checker(users)
    assert check("alice", "wonder:land") and not check("alice", "wrong") and not check("mallory", "x")


def test_each_login_has_a_role_and_without_logins_the_local_user_is_the_teacher(tmp_path):
    users_file = tmp_path / "users.txt"
    users_file.write_text("ada:pw:1:teacher\nbob:builder:learner\ncarol:singer\ndan:x:TEACHER\n")
    users = load_users(users_file, "erin:pw:teacher")
    assert {name: login.role for name, login in users.items()} == {
        "ada": "teacher", "bob": "learner", "carol": "learner", "dan": "teacher", "erin": "teacher"}
    assert users["ada"].password == "pw:1" and checker(users)("ada", "pw:1")
    assert role_of(users, "bob") == "learner" and role_of(users, "mallory") == "learner"
    assert role_of({}, None) == "teacher"
    assert "pw" not in repr(users["ada"])  # a login's repr keeps its password out of logs


def test_a_class_of_learners_only_is_refused_off_loopback():
    learners = {"bob": Login("b"), "carol": Login("c", "learner")}
    require_login_when_shared("127.0.0.1", learners)  # on your own machine it is yours to choose
    with pytest.raises(AuthConfigError, match="Every login is a learner") as info:
        require_login_when_shared("0.0.0.0", learners)
    assert "name:password:teacher" in str(info.value)
    require_login_when_shared("0.0.0.0", {**learners, "ada": Login("a", "teacher")})


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
    require_login_when_shared("0.0.0.0", {"alice": Login("pw", "teacher")})
    with pytest.raises(AuthConfigError, match="ASSISTANT_USERS_FILE"):
        require_login_when_shared("0.0.0.0", {})


def test_the_app_refuses_to_listen_on_all_addresses_without_logins(tmp_path):
    result = run_cli("app.py", "--host", "0.0.0.0", "--db", str(tmp_path / "data"), timeout=120)
    assert result.returncode == 2
    assert "require logins" in result.stderr and "Traceback" not in result.stderr


def test_an_all_learner_users_file_stops_the_app_off_loopback_with_one_sentence(tmp_path):
    users_file = tmp_path / "users.txt"
    users_file.write_text("bob:builder\ncarol:singer:learner\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env["ASSISTANT_USERS_FILE"] = str(users_file)
    result = run_cli("app.py", "--host", "0.0.0.0", "--db", str(tmp_path / "data"), env=env, timeout=120)
    assert result.returncode == 2
    assert "Every login is a learner" in result.stderr and "Traceback" not in result.stderr
    assert "builder" not in result.stderr and "singer" not in result.stderr
