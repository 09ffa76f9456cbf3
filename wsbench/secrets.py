"""What wsbench treats as a secret, and how it hides one: the policy in one place.

wsbench is used in classes, on projectors and in shared notebooks, so credentials must
not show up in what it prints, draws or writes unless someone asks for them.

* **Masked by default, everywhere wsbench shows or exports**: the text form of a
  transcript (``str(transcript)``, ``Event.text()``), its data (``records()``,
  ``to_jsonl()``, ``save()``), ``repr`` of a connection or an event, the panel and the
  timeline (live and saved), generated tests, and the messages of the errors wsbench raises
  or passes on. Each view has an opt-out, ``unmasked=True``, for one call or one widget.
  What wsbench *keeps* is never changed: ``conn.url`` is the real URL (it is needed to
  connect) and each :class:`~wsbench.Event` holds the real values.
* **One function masks a URL**, :func:`mask_url`, and every other place goes through it:
  :func:`display_url` (a URL as wsbench shows it), :func:`mask_text` (every URL inside a
  message, such as websockets' own exception messages) and :func:`mask_netloc` (a
  ``user:password@host`` alone).
* **Secret query parameters** (names percent-decoded, compared case-insensitively):
  the token-like names of :data:`SECRET_PARAMS` (``token``, ``api_key``, ``sig`` ...),
  and any name ending in ``_token``, ``_secret`` or ``_password`` (``-`` counts as
  ``_``), such as ``refresh_token`` or ``client_secret``. Parameters in a fragment
  (``#access_token=...``, as OAuth's implicit flow sends them) follow the same rule.
* **URL user info and fragments**: the password of ``ws://ada:pw@host/`` (websockets
  sends it as Basic auth; so do proxy URLs, ``http://user:pw@proxy:3128``) is always
  masked; the user name stays, unless it looks like a credential (:func:`looks_secret`:
  ``ws://TOKEN@host``). A fragment without ``name=value`` pairs is masked whole when it
  looks like a credential (``#eyJ...``); ``#top`` stays.
* **Secret headers** (names compared case-insensitively): ``Authorization``,
  ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie``, ``Sec-WebSocket-Key`` and
  ``Sec-WebSocket-Accept`` (:data:`SECRET_HEADERS`), and token-like custom headers: an
  ``X-`` header whose rest is a token-like name (``X-Token``, ``X-Api-Key``,
  ``X-Auth-Token``). ``Sec-WebSocket-Protocol`` is masked value by value, as below.
* **Subprotocols that carry credentials** (browsers cannot set headers on a WebSocket,
  so tokens travel as subprotocols: ``new WebSocket(url, ["access_token", TOKEN])``).
  In an offered list (:func:`mask_subprotocols`; the ``Sec-WebSocket-Protocol`` request
  header, :func:`mask_protocol_header`), a value is masked when

  - it follows an **auth marker**: a value that is a token-like parameter name (as
    above: ``access_token``, ``token``, ``jwt`` ...) or one of :data:`AUTH_MARKERS`
    (``bearer``, ``basic``, ``authorization``), compared case-insensitively;
  - it holds a marker and more, as one value: what follows the first marker word is
    masked (``Bearer abc`` → ``Bearer ***``, ``access_token=abc`` → ``access_token=***``,
    ``base64url.bearer.authorization.k8s.io.abc`` → ``base64url.bearer.***``);
  - it looks like a credential by itself (:func:`looks_secret`): at least 16 characters
    of ``[A-Za-z0-9._~+/=:-]`` that are **JWT-like** (three base64url parts separated by
    dots, the first a JSON object: ``eyJ...``), or whose letters and digits (at least 12;
    16 for hex) are **hex** with at least two digits and two letters (keys, hashes,
    UUIDs), or **long and mixed**
    (24 or more, with at least two each of digits, lower and upper case), or **random**:
    two kinds or more (digit, lower, upper) that change kind at least 3 times in 10
    characters, not counting a capital that starts a word, as random tokens do and names
    such as ``graphql-transport-ws``, ``v12.stomp`` or ``SecWebSocketVersion`` do not.

  The chosen subprotocol (the client's "open" event, the server's "websocket.accept")
  is one value with no list around it: masked by the last two rules
  (:func:`mask_subprotocol`).
* **The mask** is :data:`MASK` (``"***"``) in place of the value; the name stays
  visible, so a learner still sees *that* a token was sent. An empty value has nothing
  to hide and stays empty. Everything else is left exactly as written (no re-encoding),
  so a URL without secrets comes out unchanged.

Pure functions, standard library only; nothing here raises on odd input.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from urllib.parse import unquote_plus, urlsplit

__all__ = [
    "AUTH_MARKERS",
    "MASK",
    "SECRET_HEADERS",
    "SECRET_PARAMS",
    "SECRET_SUFFIXES",
    "display_url",
    "is_auth_marker",
    "is_secret_header",
    "is_secret_param",
    "looks_secret",
    "mask_headers",
    "mask_netloc",
    "mask_protocol_header",
    "mask_subprotocol",
    "mask_subprotocols",
    "mask_text",
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

#: Subprotocol values (lower case, ``-`` written ``_``) after which the next value is a credential,
#: besides the token-like parameter names (:func:`is_secret_param`).
AUTH_MARKERS = frozenset({"bearer", "basic", "authorization", "proxy_authorization"})

_PROTOCOL_HEADER = "sec-websocket-protocol"


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


def is_auth_marker(value: str) -> bool:
    """True for a subprotocol value that announces a credential as the next value: a token-like
    parameter name (``access_token``, ``token`` ...) or one of :data:`AUTH_MARKERS` (``bearer`` ...)."""
    plain = value.strip().lower().replace("-", "_")
    return bool(plain) and (plain in AUTH_MARKERS or is_secret_param(plain))


_JWT = re.compile(r"[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~+/=:-]+")
_SEPARATORS = re.compile(r"[._~+/=:-]")
_HEX = re.compile(r"[0-9a-f]+|[0-9A-F]+")


def _kind(char: str) -> int:
    return 0 if char.isdigit() else 1 if char.islower() else 2


def looks_secret(value: str) -> bool:
    """True for a value that looks like a credential by itself: JWT-like, hex, or long and
    random (the module docstring gives the rule)."""
    if not isinstance(value, str) or len(value) < 16 or not _TOKEN_CHARS.fullmatch(value):
        return False
    if _JWT.fullmatch(value):
        head = value.split(".", 1)[0]
        try:
            if base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).lstrip().startswith(b"{"):
                return True
        except (ValueError, binascii.Error):
            pass
    plain = _SEPARATORS.sub("", value)
    if len(plain) < 12:
        return False
    kinds = [_kind(char) for char in plain]
    counts = [kinds.count(kind) for kind in (0, 1, 2)]
    if _HEX.fullmatch(plain):  # a hex key, a hash, a UUID
        return len(plain) >= 16 and 2 <= counts[0] <= len(plain) - 2
    if len(plain) >= 24 and min(counts) >= 2:  # long, with digits, lower and upper case
        return True
    # a change of kind (digit, lower, upper), not counting an upper letter that starts a word:
    # CamelCase names have few, random tokens many
    changes = sum(a != b and (a, b) != (2, 1) for a, b in pairwise(kinds))
    return sum(count > 0 for count in counts) >= 2 and changes * 10 >= len(plain) * 3


_WORDS = re.compile(r"([.\s:=]+)")


def mask_subprotocol(value: str) -> str:
    """One subprotocol value as wsbench shows it: :data:`MASK` when it looks like a credential
    (:func:`looks_secret`), what follows a marker word masked (``Bearer abc`` → ``Bearer ***``),
    else unchanged."""
    if not isinstance(value, str) or not value:
        return value
    if looks_secret(value.strip()):
        return MASK
    parts = _WORDS.split(value)  # words at even positions, separators at odd ones
    for i in range(0, len(parts) - 2, 2):
        if is_auth_marker(parts[i]) and "".join(parts[i + 2 :]).strip():
            return "".join(parts[: i + 2]) + MASK
    return value


def mask_subprotocols(values: Sequence[str]) -> list[str]:
    """An offered list of subprotocols as wsbench shows it: a value after an auth marker
    (:func:`is_auth_marker`) masked, each other one as :func:`mask_subprotocol` shows it."""
    shown = []
    after_marker = False
    for value in values:
        if after_marker and isinstance(value, str) and value.strip():
            shown.append(MASK)
        else:
            shown.append(mask_subprotocol(value))
        after_marker = isinstance(value, str) and is_auth_marker(value)
    return shown


def mask_protocol_header(value: str) -> str:
    """A ``Sec-WebSocket-Protocol`` header value (``access_token, abc``) with its credentials
    masked as :func:`mask_subprotocols` does, spacing kept."""
    if not isinstance(value, str) or not value:
        return value
    parts = value.split(",")
    masked = mask_subprotocols([part.strip() for part in parts])
    out = []
    for part, shown in zip(parts, masked, strict=True):
        stripped = part.strip()
        if shown == stripped:
            out.append(part)
        else:
            start = part.find(stripped)
            out.append(part[:start] + shown + part[start + len(stripped) :])
    return ",".join(out)


def mask_headers(pairs: Iterable[tuple[str, str]] | Mapping[str, str]) -> list[tuple[str, str]]:
    """The (name, value) pairs (or a mapping's items) in order, each secret header's value
    replaced by :data:`MASK`, and the credentials in a ``Sec-WebSocket-Protocol`` masked."""
    if isinstance(pairs, Mapping):
        pairs = pairs.items()
    shown = []
    for name, value in pairs:
        if value and isinstance(name, str) and name.strip().lower() == _PROTOCOL_HEADER:
            value = mask_protocol_header(value)
        elif value and is_secret_header(name):
            value = MASK
        shown.append((name, value))
    return shown


def _mask_pairs(text: str) -> str:
    """``a=1&token=abc`` → ``a=1&token=***``, every other character as it was."""
    parts = text.split("&")
    for i, part in enumerate(parts):
        name, equals, value = part.partition("=")
        if equals and value and is_secret_param(name):
            parts[i] = f"{name}={MASK}"
    return "&".join(parts)


def mask_netloc(netloc: str) -> str:
    """``user:password@host:port`` with the password masked, and the user name too when it looks
    like a credential (:func:`looks_secret`); a netloc without user info is returned unchanged."""
    if not isinstance(netloc, str):
        return netloc
    user, at, host = netloc.rpartition("@")
    if not at:
        return netloc
    name, colon, password = user.partition(":")
    if looks_secret(unquote_plus(name)):
        name = MASK
    if colon and password:
        password = MASK
    return f"{name}{colon}{password}@{host}"


def mask_url(url: str) -> str:
    """*url* with the values of token-like query (and fragment) parameters, a user-info password,
    and a user name or fragment that looks like a credential replaced by :data:`MASK`; a URL
    with none of them is returned unchanged. The one function that masks a URL."""
    if not isinstance(url, str):
        return url
    rest, hash_, fragment = url.partition("#")
    rest, question, query = rest.partition("?")
    scheme, sep, after = rest.partition("://")
    if sep:
        slash = after.find("/")
        netloc, path = (after, "") if slash < 0 else (after[:slash], after[slash:])
        rest = f"{scheme}://{mask_netloc(netloc)}{path}"
    if question:
        rest += "?" + _mask_pairs(query)
    if hash_:
        if "=" in fragment:
            rest += "#" + _mask_pairs(fragment)
        else:
            rest += "#" + (MASK if looks_secret(unquote_plus(fragment)) else fragment)
    return rest


# A URL in free text: a scheme, "://", then anything up to whitespace, a quote or an angle bracket.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
# user:password@host without a scheme (as "host:port" is often shown), not inside a URL.
_USERINFO_IN_TEXT = re.compile(r"(?<![\w/:@.%-])([^\s:/@'\"<>`]+):([^\s/@'\"<>`]+)@(?=[\w\[])")
_JWT_IN_TEXT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def mask_text(text: str) -> str:
    """A message with every URL in it masked by :func:`mask_url`, the password of a bare
    ``user:password@host``, and JWTs (``eyJ...``) masked: for the messages of errors wsbench
    raises or passes on (websockets' own ``InvalidURI`` prints the whole URL)."""
    if not isinstance(text, str) or not text:
        return text
    if "://" in text:
        text = _URL_IN_TEXT.sub(lambda m: mask_url(m.group()), text)
    if "@" in text:
        text = _USERINFO_IN_TEXT.sub(lambda m: f"{m.group(1)}:{MASK}@", text)
    if "eyJ" in text:
        text = _JWT_IN_TEXT.sub(MASK, text)
    return text


#: Hosts whose port changes from run to run (a Bench, a FaultProxy): shown without host and port.
_LOOPBACK_HOSTS = ("127.", "localhost", "[::1]")


def display_url(url: str) -> str:
    """*url* as wsbench shows it: secrets masked (:func:`mask_url`), and for a loopback host
    only the path and query, since its port changes from run to run."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except (ValueError, TypeError, AttributeError):
        return mask_url(url)
    if parts.netloc.startswith(_LOOPBACK_HOSTS) or host.startswith("127.") or host in ("localhost", "::1"):
        return mask_url(parts.path + (f"?{parts.query}" if parts.query else ""))
    return mask_url(url)
