"""Who may sign in to a shared app, and what each login may do.

Users come from a file (`ASSISTANT_USERS_FILE`, one `name:password:role` per line, `#` comments)
or the `ASSISTANT_USERS` variable (`alice:pw1:teacher,bob:pw2`). The role is `teacher` (may upload,
delete and re-index notes) or `learner` (reads the notes, asks, takes quizzes); a line without a
role, the form before roles, is a learner, and a password may hold colons (`bob:a:b` is password
`a:b`). Without logins the one local user is the teacher. Passwords are never logged or shown.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AssistantError

TEACHER, LEARNER = "teacher", "learner"


class AuthConfigError(AssistantError):
    pass


@dataclass(frozen=True)
class Login:
    password: str = field(repr=False)
    role: str = LEARNER


def load_users(users_file: Path | None, users_env: str | None) -> dict[str, Login]:
    entries: list[tuple[str, str]] = []
    if users_file:
        try:
            lines = Path(users_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise AuthConfigError(
                f"Cannot read the users file {users_file} ({exc.strerror}); check ASSISTANT_USERS_FILE."
            ) from None
        entries += [(str(users_file), line) for line in lines]
    if users_env:
        entries += [("ASSISTANT_USERS", part) for part in users_env.split(",")]
    users: dict[str, Login] = {}
    for origin, raw in entries:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, password = line.partition(":")
        role = LEARNER
        head, _, last = password.rpartition(":")
        if head and last.strip().lower() in (TEACHER, LEARNER):
            password, role = head, last.strip().lower()
        if not sep or not name.strip() or not password:
            raise AuthConfigError(
                f"A line in {origin} is not 'name:password' or 'name:password:role'; fix it "
                "(passwords are not shown here)."
            )
        users[name.strip()] = Login(password, role)
    return users


def role_of(users: dict[str, Login], login: str | None) -> str:
    """The role of a signed-in name; with no logins configured, the local user's: teacher."""
    if not users:
        return TEACHER
    found = users.get(login or "")
    return found.role if found else LEARNER


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_login_when_shared(host: str, users: dict[str, Login]) -> None:
    if is_loopback(host):
        return
    if not users:
        raise AuthConfigError(
            f"Listening on {host} would share your notes and progress with the network; set "
            "ASSISTANT_USERS_FILE (name:password:teacher or name:password:learner per line) or "
            "ASSISTANT_USERS to require logins, or use --host 127.0.0.1."
        )
    if not any(login.role == TEACHER for login in users.values()):
        raise AuthConfigError(
            f"Every login is a learner, so nobody could add or fix the notes on {host}; mark at "
            "least one line of the users file as name:password:teacher (a line without a role is "
            "a learner)."
        )
