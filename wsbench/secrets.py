"""What wsbench treats as a secret, and how it hides one: the policy in one place.

wsbench is used in classes, on projectors and in shared notebooks, so credentials must
not show up in what it prints, draws or writes unless someone asks for them.

* **Masked by default, everywhere wsbench shows or exports**: the text form of a
  transcript (``str(transcript)``, ``Event.text()``), its data (``records()``,
  ``to_jsonl()``, ``save()``), ``repr`` of a connection or an event, the panel and the
  timeline (live and saved). Each has an opt-out, ``unmasked=True``, for one call or
  one widget. What wsbench *keeps* is never changed: ``conn.url`` is the real URL (it
  is needed to connect) and each :class:`~wsbench.Event` holds the real values.
* **Secret headers** (names compared case-insensitively): ``Authorization``,
  ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie``, ``Sec-WebSocket-Key`` and
  ``Sec-WebSocket-Accept`` (:data:`SECRET_HEADERS`), and token-like custom headers: an
  ``X-`` header whose rest is a token-like name (``X-Token``, ``X-Api-Key``,
  ``X-Auth-Token``).
* **Secret query parameters** (names percent-decoded, compared case-insensitively):
  the token-like names of :data:`SECRET_PARAMS` (``token``, ``api_key``, ``sig`` ...),
  and any name ending in ``_token``, ``_secret`` or ``_password`` (``-`` counts as
  ``_``), such as ``refresh_token`` or ``client_secret``. Parameters in a fragment
  (``#access_token=...``, as OAuth's implicit flow sends them) follow the same rule,
  and so does the password of a URL's user info (``ws://ada:pw@host/``).
* **The mask** is :data:`MASK` (``"***"``) in place of the value; the name stays
  visible, so a learner still sees *that* a token was sent. An empty value has nothing
  to hide and stays empty. Everything else is left exactly as written (no re-encoding),
  so a URL without secrets comes out unchanged.

Pure functions, standard library only; nothing here raises on odd input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import unquote_plus, urlsplit

__all__ = [
    "MASK",
    "SECRET_HEADERS",
    "SECRET_PARAMS",
    "SECRET_SUFFIXES",
    "display_url",
    "is_secret_header",
    "is_secret_param",
    "mask_headers",
    "mask_url",
]

#: What a secret value is replaced with.
MASK = "***"

#: Header names (lower case) whose values are masked.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "sec-websocket-key",
        "sec-websocket-accept",
    }
)

#: Query parameter names (lower case, ``-`` written ``_``) whose values are masked.
SECRET_PARAMS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "api_key",
        "apikey",
        "key",
        "secret",
        "client_secret",
        "password",
        "passwd",
        "auth",
        "sig",
        "signature",
        "jwt",
    }
)

#: A parameter name ending in one of these (after ``-`` → ``_``) is masked too.
SECRET_SUFFIXES = ("_token", "_secret", "_password")


def is_secret_param(name: str) -> bool:
    """True for a token-like query parameter name, as written in a URL (percent-encoded or not)."""
    plain = unquote_plus(name).strip().lower().replace("-", "_")
    return plain in SECRET_PARAMS or plain.endswith(SECRET_SUFFIXES)


def is_secret_header(name: str) -> bool:
    """True for a header whose value is a credential (see the module docstring)."""
    lower = name.strip().lower()
    if lower in SECRET_HEADERS:
        return True
    return lower.startswith("x-") and is_secret_param(lower[2:])


def mask_headers(pairs: Iterable[tuple[str, str]] | Mapping[str, str]) -> list[tuple[str, str]]:
    """The (name, value) pairs (or a mapping's items) in order, each secret header's value
    replaced by :data:`MASK`."""
    if isinstance(pairs, Mapping):
        pairs = pairs.items()
    return [(name, MASK if value and is_secret_header(name) else value) for name, value in pairs]


def _mask_pairs(text: str) -> str:
    """``a=1&token=abc`` → ``a=1&token=***``, every other character as it was."""
    parts = text.split("&")
    for i, part in enumerate(parts):
        name, equals, value = part.partition("=")
        if equals and value and is_secret_param(name):
            parts[i] = f"{name}={MASK}"
    return "&".join(parts)


def mask_url(url: str) -> str:
    """*url* with the values of token-like query (and fragment) parameters and any user-info
    password replaced by :data:`MASK`; a URL with none of them is returned unchanged."""
    if not isinstance(url, str):
        return url
    rest, hash_, fragment = url.partition("#")
    rest, question, query = rest.partition("?")
    scheme, sep, after = rest.partition("://")
    if sep:
        slash = after.find("/")
        netloc, path = (after, "") if slash < 0 else (after[:slash], after[slash:])
        user, at, host = netloc.rpartition("@")
        name, colon, password = user.partition(":")
        if at and colon and password:
            rest = f"{scheme}://{name}:{MASK}@{host}{path}"
    if question:
        rest += "?" + _mask_pairs(query)
    if hash_:
        rest += "#" + (_mask_pairs(fragment) if "=" in fragment else fragment)
    return rest


#: Hosts whose port changes from run to run (a Bench, a FaultProxy): shown without host and port.
_LOOPBACK_HOSTS = ("127.", "localhost", "[::1]")


def display_url(url: str) -> str:
    """*url* as wsbench shows it: secrets masked (:func:`mask_url`), and for a loopback host
    only the path and query, since its port changes from run to run."""
    parts = urlsplit(url)
    if parts.netloc.startswith(_LOOPBACK_HOSTS):
        return mask_url(parts.path + (f"?{parts.query}" if parts.query else ""))
    return mask_url(url)
