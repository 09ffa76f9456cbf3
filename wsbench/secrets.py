"""What wsbench treats as a secret, and how it hides one: the policy in one place.

* Masked by default in everything wsbench shows or exports (transcript text and data, reprs,
  panel, timeline, generated tests, error messages), each view with ``unmasked=True`` to opt out;
  what wsbench keeps (``conn.url``, each event) is never changed.
* One function masks a URL, :func:`mask_url` (token-like query and fragment parameters, a
  password, a user name alone, a credential-like user name or fragment); one masks headers,
  :func:`mask_headers`; subprotocols carrying a credential are masked by marker or by look,
  :func:`looks_secret` (JWTs, ``secrets.token_hex`` and ``token_urlsafe`` tokens, random strings).
* The full rules, and how often the look-based one is right: ``docs/secrets.md``.

Pure functions, standard library only; nothing here raises on odd input.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from urllib.parse import unquote_plus

from ._net import loopback_path

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
_URLSAFE = re.compile(r"[A-Za-z0-9_-]{11,}")  # secrets.token_urlsafe(n), n >= 8: 11 characters or more
_NAME_PART = re.compile(r"[_-]+|[A-Za-z0-9]+")
_NAME_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")  # HTTPResponse2 -> HTTP, Response, 2
_LETTER = re.compile(r"[A-Za-z]")
_WORD = re.compile(r"[A-Z]?[a-z]+")
_PART = re.compile(r"[_-]+")
_VOWEL = re.compile(r"[aeiouy]", re.IGNORECASE)
_CONSONANTS = re.compile(r"[b-df-hj-np-tv-xz]{6}", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]+")
_LETTERS = re.compile(r"[A-Za-z]+")
_LOWER_HEAD = re.compile(r"[a-z]*")

# How many bits each letter costs after the one before it ("^": the word starts), and the end of
# a word ("$") costs, in English words and Python's names: -log2 of its share, rounded, 15 at most,
# one hex digit per letter a..z then "$". Made by benchmarks/secret_heuristic.py --table.
_LETTER_ROWS = (
    "^44344455476545548434565989f",
    "aa54487585a6343a5a3436677685",
    "b35783aaa36b38837d4573a9c5a5",
    "c3a6939a34f448a29946459bd7c4",
    "d4885287939b58848b557588b7b2",
    "e575366797a94537683348675793",
    "f4a8734892cc48839c4654cac6f4",
    "g49aa3a554cb57559d4575b9e7a1",
    "h389828b93b967739c5655c8d6c3",
    "i5645465bab845246953485b7d56",
    "j2ca92acc4caacc28c9792aacac4",
    "k479828863a858567a7386b6e6e2",
    "l3775278a3c837837d95558ac4b3",
    "m258829ba3fa75733c9575baf7e4",
    "n48443638496796589843679b8a3",
    "o665576586a644255a3454557895",
    "p398839a54d949934d3545a9d6e4",
    "q89a99aca8ac7a798c7790a9ccc4",
    "r376528683b775637b544579b6c3",
    "s595939954c76675589435a7c7d1",
    "t486828a43da68847d4455a8b592",
    "u5555465a5a834374c333a9b9a87",
    "v2a9a19bb2dd99a49e88979bd8e5",
    "w278638943c857438b4479b8b8a3",
    "x594838963db76963b87268975a2",
    "y576758785ba65564d6458979b91",
    "z39a919b73da57848b989799d644",
)
_LETTER_BITS = {
    (row[0], after): int(bits, 16)
    for row in _LETTER_ROWS
    for after, bits in zip("abcdefghijklmnopqrstuvwxyz$", row[1:], strict=True)
}

# The last character of secrets.token_urlsafe(n) by length % 4 (n % 3): its padding bits are zero.
_URLSAFE_LAST = {0: None, 2: "AQgw", 3: "AEIMQUYcgkosw048"}


def _kind(char: str) -> int:
    return 0 if char.isdigit() else 1 if char.islower() else 2


def looks_secret(value: str) -> bool:
    """True for a value that looks like a credential by itself: JWT-like, hex, or random
    (docs/secrets.md gives the rules and how often they are right)."""
    if not isinstance(value, str) or len(value) < 11 or not _TOKEN_CHARS.fullmatch(value):
        return False
    if len(value) >= 16 and _HEX.fullmatch(value):  # secrets.token_hex(n), n >= 8; a hash
        return True
    if _URLSAFE.fullmatch(value) and (
        (_repetitive(value) and _urlsafe_ending(value)) or not _reads_as_words(value)
    ):  # token_urlsafe(n), n >= 8
        return True
    if len(value) < 16:
        return False
    if _JWT.fullmatch(value):
        head = value.split(".", 1)[0]
        try:  # a JSON object, not merely "{": "examples" decodes to b"{\x16..."
            if isinstance(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))), dict):
                return True
        except (ValueError, binascii.Error):
            pass
    plain = _SEPARATORS.sub("", value)
    if len(plain) < 12:
        return False
    kinds = [_kind(char) for char in plain]
    counts = [kinds.count(kind) for kind in (0, 1, 2)]
    if _HEX.fullmatch(plain):  # a hex key with separators: a UUID
        return len(plain) >= 16 and 2 <= counts[0] <= len(plain) - 2
    if len(plain) >= 24 and min(counts) >= 2:  # long, with digits, lower and upper case
        return True
    # a change of kind (digit, lower, upper), not counting an upper letter that starts a word:
    # CamelCase names have few, random tokens many
    changes = sum(a != b and (a, b) != (2, 1) for a, b in pairwise(kinds))
    return sum(count > 0 for count in counts) >= 2 and changes * 10 >= len(plain) * 3


def _urlsafe_ending(value: str) -> bool:
    """True when unpadded base64 (token_urlsafe) can end as *value* does: its length leaves 0, 2 or 3
    characters past the last group of 4, and a last character of 2 or 3 carries only the bits it can."""
    last = _URLSAFE_LAST.get(len(value) % 4, "")
    return last is None or value[-1] in last


def _repetitive(value: str) -> bool:
    """True for a value that repeats itself every 4 or 8 characters (its last 3 aside), or of
    which one character makes more than half: bytes that repeat or are mostly zeros, in base64
    (``AAAAAAAAAAA``, ``39_f39_f398``, ``AAAAAAcAAAA``); no name does that."""
    distinct = set(value)
    if 2 * len(distinct) <= len(value) + 1 and 2 * max(map(value.count, distinct)) > len(value):
        return True
    for period in (4, 8):  # the shortest body that may repeat: the last 3 characters aside, 2 periods at least
        body = max(2 * period, len(value) - 3)
        if _WORD.fullmatch(value[:period]):  # a word said twice (FastFastapi) is a name's: bytes'
            body = max(2 * period, len(value) - 1)  # repeated to the last character (WlpaWlpaWlo)
        if body <= len(value) and value[period:body] == value[: body - period]:
            return True
    return False


def _reads_as_words(value: str) -> bool:
    """True when *value* (letters, digits, ``_`` and ``-``) reads as a name: it takes fewer bits
    written as a name (:func:`_name_bits`) than as random characters, or it is shaped like a
    name (:func:`_shaped_like_a_name`) and takes less than 16 bits more (docs/secrets.md:
    "Reads as words")."""
    if not _LETTER.search(value):
        return False
    last = _URLSAFE_LAST.get(len(value) % 4, "")
    if last is None or value[-1] in last:  # 6 bits a character, less 8 past 16 characters
        random_bits = 6 * len(value) - (8 if len(value) > 16 else 0)
    else:  # not a token_urlsafe, by its length or its last character: 12 bits of benefit of the doubt
        random_bits = 6 * len(value) + 12
    over = _name_bits(value, stop=random_bits + 16) - random_bits
    return over <= 0 or (over <= 16 and _shaped_like_a_name(value))


def _shaped_like_a_name(value: str) -> bool:
    """True when *value* (letters, digits, ``_`` and ``-``) has the shape of a name made of words,
    as identifiers, header names and file names have (docs/secrets.md: "Shaped like a name")."""
    if len(_DIGITS.findall(value)) > 2:
        return False
    parts = [part for part in _PART.split(value) if part]
    words: list[str] = []  # every word of letters
    camel: list[str] = []  # those of parts in mixed case
    for part in parts:
        if part.isdigit():
            continue
        if part.lower() == part or part.upper() == part:  # snake_case, kebab-case, UPPER_CASE, b64decode
            words += _LETTERS.findall(part)
            continue
        head = _LOWER_HEAD.match(part).group()  # type: ignore[union-attr]  # matches always
        if len(parts) > 1 and head and (len(head) < 2 or not _VOWEL.search(head)):
            return False  # joined mixed-case parts start with a capital or a word: Sec-WebSocket-Key
        if not _LETTERS.match(part) or _DIGITS.search(part.rstrip("0123456789")):
            return False  # digits only at the end of a mixed-case part: MyProtocolV2
        found = [word for word in _NAME_WORD.findall(part) if not word.isdigit()]
        camel += found
        words += found
    if not words:
        return False
    if camel:
        acronyms = [word for word in camel if word.isupper()]
        if sum(len(w) == 1 for w in acronyms) > 1 or len(acronyms) > 2 or any(len(w) > 5 for w in acronyms):
            return False
        if len(camel) >= 3 and 2 * sum(map(len, camel)) < 5 * len(camel):  # 2.5 letters a word
            return False
    bare = 0  # mixed-case words of 2 to 5 letters without a vowel (Http, Xml): a few only
    for word in words:
        if word in camel and _CONSONANTS.search(word):  # lower case may join words: httpbearer
            return False
        if len(word) > 1 and not _VOWEL.search(word):
            if len(word) > 5:  # Http, Xml, https
                return False
            bare += word in camel
    return bare <= 3


def _name_bits(value: str, stop: float = math.inf) -> float:
    """How many bits *value* takes written as a name: its words spelled letter by letter
    (:data:`_LETTER_BITS`), acronyms, numbers and separators, and what a name rarely does
    (both ``-`` and ``_``, parts in different cases) at a price; counting stops past *stop*."""
    bits = 0.0
    separators: set[str] = set()
    cases: list[str] = []
    for part in _NAME_PART.findall(value):
        if part[0] in "_-":
            bits += 4 + 6 * (len(part) - 1)  # a separator; a run of them is rare
            separators.update(part)
            continue
        words = _NAME_WORD.findall(part)
        bits += 4 * (len(words) - 1)  # where each word of the part starts
        for i, word in enumerate(words):
            bits += _word_bits(word, last=i == len(words) - 1)
        if bits > stop:
            return bits
        if not part.isdigit():
            cases.append("lower" if part.islower() else "upper" if part.isupper() else "mixed")
    bits += 8 * (len(separators) > 1)  # both - and _
    return bits + 6 * sum(a != b for a, b in pairwise(cases))  # snake_case, UPPER_CASE: one case


def _word_bits(word: str, *, last: bool) -> float:
    """How many bits one word of a name takes (:func:`_name_bits`)."""
    size = len(word)
    if word.isdigit():  # a number: at the end of its part (room42, v2), or less often inside (b64decode)
        return 2 + 4 * size + (0 if last else 4)
    if size == 1:  # a single letter: x, V2
        return 7
    letters = f"^{word.lower()}$"
    spelled = word[0].isupper() + sum(map(_LETTER_BITS.__getitem__, pairwise(letters)))
    if word.isupper() and size <= 6:  # an acronym: HTTP, JSON, any letters
        return min(spelled, 2 + 5.2 * size + 3 * max(0, size - 3))
    return spelled


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
    if name and (not colon or looks_secret(unquote_plus(name))):  # a user name alone is how tokens travel
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


def display_url(url: str) -> str:
    """*url* as wsbench shows it: secrets masked (:func:`mask_url`), and for a loopback host
    only the path and query, since its port changes from run to run (:func:`~wsbench._net.loopback_path`)."""
    return mask_url(loopback_path(url))
