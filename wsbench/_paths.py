"""The one check of a path a caller gives (an endpoint to register, a path to connect to or open in
a page): :func:`check_path` raises :class:`~wsbench.errors.InvalidPath` naming the problem, with the
same words for the same mistake at every entry point, secrets in a query or fragment masked (a
message ends up in notebooks and logs). Pure logic: the standard library, the exception tree and
:mod:`wsbench.secrets`.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote, urlsplit

from .errors import InvalidPath
from .secrets import mask_url

__all__ = ["check_path"]


def check_path(
    path: object, *, noun: str = "path", template: bool = False, query: bool = True, fragment: bool = False
) -> str:
    """*path* if it is a str starting with "/" that a URL carries as it is; InvalidPath otherwise.

    Always refused: another type, no leading "/", whitespace or a control character (either would
    go raw into the request line). *template* allows a route's ``{param}``; *query* allows "?" (a
    path to connect to may carry a query; an endpoint cannot); *fragment* allows "#" (which starts
    a URL's fragment, never sent to a server). *noun* names the path in the message.
    """
    if not isinstance(path, str):
        raise InvalidPath(f"{noun} must be a str, got {type(path).__name__}")
    shown = mask_url(path)
    if not path.startswith("/"):
        if "://" in path:
            hint = f" (give the path only: {urlsplit(path).path or '/'!r})"
        else:
            hint = f" (try {'/' + shown!r})" if path else ""
        raise InvalidPath(f"{noun} must start with '/', got {shown!r}{hint}")
    for at, char in enumerate(path):
        if char.isspace() or unicodedata.category(char) == "Cc":
            what = "a space" if char == " " else f"the control character {char!r}"
            if unicodedata.category(char) != "Cc" and char != " ":
                what = f"the whitespace character {char!r}"
            where = f" at position {at}" if shown == path else ""
            raise InvalidPath(f"{noun} {shown!r} holds {what}{where}; percent-encode it ({quote(char)}) first")
    route = path.partition("?")[0].partition("#")[0]
    if not template and ("{" in route or "}" in route):
        raise InvalidPath(
            f"{noun} {shown!r} holds '{{' or '}}', a route's path parameter: put the value in its place "
            "(percent-encode a literal brace: %7B, %7D)"
        )
    if not query and "?" in path:
        raise InvalidPath(
            f"{noun} {shown!r} holds '?', which starts a URL's query, so no URL reaches it: "
            f"register {path.partition('?')[0]!r} and read the query from websocket.query_params"
        )
    if not fragment and "#" in path:
        raise InvalidPath(f"{noun} {shown!r} holds '#', which starts a URL's fragment (never sent to a server)")
    return path
