"""Logins for a shared app: who may sign in, and when logins are required.

Users come from a file (`ASSISTANT_USERS_FILE`, one `name:password` per line, `#` comments) or the
`ASSISTANT_USERS` variable (`alice:pw1,bob:pw2`). Passwords are compared in constant time and
never logged. Each learner's quiz progress is keyed by the login name.
"""

from __future__ import annotations

import hmac
import ipaddress
from pathlib import Path

from ..core.errors import AssistantError


class AuthConfigError(AssistantError):
    pass


def load_users(users_file: Path | None, users_env: str | None) -> dict[str, str]:
    users: dict[str, str] = {}
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
    for origin, raw in entries:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, password = line.partition(":")
        if not sep or not name.strip() or not password:
            raise AuthConfigError(
                f"A line in {origin} is not 'name:password'; fix it (passwords are not shown here)."
            )
        users[name.strip()] = password
    return users


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checker(users: dict[str, str]):
    """A Gradio auth callable: (name, password) -> bool, constant time per password."""

    def check(name: str, password: str) -> bool:
        expected = users.get(name)
        if expected is None:
            hmac.compare_digest(password.encode(), password.encode())  # same work either way
            return False
        return hmac.compare_digest(expected.encode(), password.encode())

    return check


def require_login_when_shared(host: str, users: dict[str, str]) -> None:
    if not is_loopback(host) and not users:
        raise AuthConfigError(
            f"Listening on {host} would share your notes and progress with the network; set "
            "ASSISTANT_USERS_FILE (name:password per line) or ASSISTANT_USERS to require logins, "
            "or use --host 127.0.0.1."
        )
