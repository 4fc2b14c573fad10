"""Logins for a shared app, for Gradio: the password check, and the signed-in user's role.

Who may sign in and with which role is read by assistant/core/logins.py (re-exported here).
Passwords are compared in constant time and never logged. Each learner's quiz progress is keyed
by the login name.
"""

from __future__ import annotations

import hmac

from ..core.logins import (  # noqa: F401  (the app imports them from here)
    LEARNER,
    TEACHER,
    AuthConfigError,
    Login,
    is_loopback,
    load_users,
    require_login_when_shared,
    role_of,
)


def checker(users: dict[str, Login]):
    """A Gradio auth callable: (name, password) -> bool, constant time per password."""

    def check(name: str, password: str) -> bool:
        expected = users.get(name)
        if expected is None:
            hmac.compare_digest(password.encode(), password.encode())  # same work either way
            return False
        return hmac.compare_digest(expected.password.encode(), password.encode())

    return check


def login_name(request) -> str | None:
    """The name signed in to this Gradio request, or None without logins."""
    return getattr(request, "username", None) or None
