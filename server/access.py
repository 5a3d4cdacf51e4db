"""Who may read what: the server's shared token, checked the same way on every route.

:class:`TokenGate` is the one place a request's token is judged (by :mod:`server.app`,
for ``/ws`` and for every HTTP route).  Promises:

* Without a token (no ``--token``, no ``DOODLESTREAM_TOKEN``) every request is authorized.
* With one, a request is authorized when it carries it as ``Authorization: Bearer
  TOKEN``, as ``?token=TOKEN``, or as the cookie :data:`COOKIE` that a page opened with
  ``?token=`` receives (:meth:`TokenGate.set_cookie`).  The cookie holds a value derived
  from the token (HMAC-SHA256), never the token itself; it is ``HttpOnly``,
  ``SameSite=Strict``, ``Path=/`` (and ``Secure`` when the page came over HTTPS through a
  trusted proxy).  Every comparison is constant-time (:func:`hmac.compare_digest`).
* :meth:`TokenGate.allows` says whether a route of a given :class:`server.plugin.Access`
  may be read: public routes always; gallery routes when authorized or with
  ``--public-gallery``; private routes only when authorized.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from enum import Enum

from websockets.datastructures import Headers

from server.plugin import Access

#: Name of the cookie that carries the (derived) token for browser pages.
COOKIE = "doodlestream_token"
#: What the cookie's value is derived from, with the token as HMAC key.
_COOKIE_CONTEXT = b"doodlestream gallery cookie v1"


class Grant(Enum):
    """How a request proved it holds the token."""

    NONE = "none"  # it did not (or the server has no token: see :attr:`TokenGate.enabled`)
    HEADER = "header"
    QUERY = "query"
    COOKIE = "cookie"


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))


class TokenGate:
    """The token check of one server (see module docstring)."""

    def __init__(self, token: str | None, *, public_gallery: bool = False) -> None:
        self._token = token or None
        self.public_gallery = public_gallery
        self._cookie = (
            hmac.new(self._token.encode("utf-8"), _COOKIE_CONTEXT, hashlib.sha256).hexdigest() if self._token else ""
        )

    @property
    def enabled(self) -> bool:
        """Whether the server has a token at all."""
        return self._token is not None

    def grant(self, headers: Headers, query: Mapping[str, list[str]]) -> Grant:
        """How the request carries a valid token (:attr:`Grant.NONE` if it does not, or if there is none)."""
        if self._token is None:
            return Grant.NONE
        auth = headers.get("Authorization", "")
        if auth[:7].lower() == "bearer " and _equal(auth[7:].strip(), self._token):
            return Grant.HEADER
        values = query.get("token", [])
        if len(values) == 1 and _equal(values[0], self._token):
            return Grant.QUERY
        for header in headers.get_all("Cookie"):
            for part in header.split(";"):
                name, _, value = part.strip().partition("=")
                if name == COOKIE and _equal(value.strip(), self._cookie):
                    return Grant.COOKIE
        return Grant.NONE

    def authorized(self, grant: Grant) -> bool:
        """Whether a request with ``grant`` counts as holding the token (always, without one)."""
        return self._token is None or grant is not Grant.NONE

    def allows(self, access: Access, grant: Grant) -> bool:
        """Whether a route declared with ``access`` may be read by a request with ``grant``."""
        if access is Access.PUBLIC or self.authorized(grant):
            return True
        return access is Access.GALLERY and self.public_gallery

    def needs_token(self, access: Access) -> bool:
        """Whether ``access`` routes are closed to requests without the token (so never shared-cached)."""
        return self.enabled and not self.allows(access, Grant.NONE)

    def set_cookie(self, *, secure: bool) -> str:
        """The ``Set-Cookie`` value that lets this browser read private pages from now on."""
        flags = "; HttpOnly; SameSite=Strict; Path=/" + ("; Secure" if secure else "")
        return f"{COOKIE}={self._cookie}{flags}"
