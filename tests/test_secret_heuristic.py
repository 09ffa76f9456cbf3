"""The token heuristic (wsbench.secrets.looks_secret, docs/secrets.md) as hypothesis properties, both ways:
tokens made as Python makes them are caught, and names made of ordinary words are not.

The ordinary side is built from the project itself, not from a list written to pass: the words of its
README, docs and notebooks' text, the identifiers of its source, tests and notebooks' code, and the
paths of its files; hypothesis joins those words into names the ways people write them."""

from __future__ import annotations

import base64
import io
import json
import random
import re
import tokenize
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsbench.secrets import looks_secret

ROOT = Path(__file__).resolve().parent.parent


def _words() -> list[str]:
    """Words of the project's prose: README.md, docs/*.md (but the page on secrets), the notebooks' markdown."""
    texts = [ROOT.joinpath("README.md").read_text(encoding="utf-8")]
    docs = [path for path in sorted(ROOT.joinpath("docs").glob("*.md")) if path.name != "secrets.md"]  # quotes tokens
    texts += [path.read_text(encoding="utf-8") for path in docs]
    for notebook in sorted(ROOT.joinpath("notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        texts += ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown"]
    # words as written, a CamelCase name in the text taken as its words (HTTPBearer: HTTP, Bearer)
    return sorted({word for text in texts for word in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+", text)})


def _identifiers() -> list[str]:
    """Every name in the project's Python: wsbench/, tests/ and the notebooks' code cells."""
    sources = [
        path.read_text(encoding="utf-8")
        for folder in ("wsbench", "tests")
        for path in ROOT.joinpath(folder).rglob("*.py")
    ]
    for notebook in sorted(ROOT.joinpath("notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        sources += ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    names = set()
    for source in sources:
        try:
            names.update(
                t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.NAME
            )
        except (tokenize.TokenError, SyntaxError, IndentationError):  # a notebook cell with IPython magic
            continue
    return sorted(names)


def _paths() -> list[str]:
    """The project's own files: as relative paths, absolute-looking paths and bare names."""
    found = set()
    for folder in ("wsbench", "tests", "notebooks", "docs", "benchmarks"):
        for path in ROOT.joinpath(folder).rglob("*"):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            relative = path.relative_to(ROOT).as_posix()
            found.update({relative, "/" + relative, path.name})
    return sorted(found)


WORDS = _words()
IDENTIFIERS = _identifiers()
PATHS = _paths()


def test_the_corpus_is_the_project():
    """The corpus is big enough to mean something, and holds what it should."""
    assert len(WORDS) > 1000 and len(IDENTIFIERS) > 2000 and len(PATHS) > 200
    assert {"handshake", "transcript"} <= set(WORDS) and "looks_secret" in IDENTIFIERS
    assert "wsbench/secrets.py" in PATHS


@pytest.mark.parametrize(("name", "corpus"), [("words", WORDS), ("identifiers", IDENTIFIERS), ("paths", PATHS)])
def test_no_word_identifier_or_path_of_the_project_looks_secret(name: str, corpus: list[str]):
    """Not one word, identifier or file path of the project is taken for a credential."""
    assert [value for value in corpus if looks_secret(value)] == []


def _joined(words: list[str], style: str) -> str:
    """*words* joined as a name in *style*."""
    lower = [w.lower() for w in words]
    if style == "snake":
        return "_".join(lower)
    if style == "kebab":
        return "-".join(lower)
    if style == "upper":
        return "_".join(w.upper() for w in words)
    if style == "camel":
        return lower[0] + "".join(w.capitalize() for w in lower[1:])
    if style == "pascal":
        return "".join(w.capitalize() for w in lower)
    if style == "header":
        return "-".join(w.capitalize() for w in lower)
    if style == "dotted":
        return ".".join(lower)
    return "/" + "/".join(lower)  # a path


@settings(max_examples=500)
@given(
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4, unique_by=str.lower),
    style=st.sampled_from(["snake", "kebab", "upper", "camel", "pascal", "header", "dotted", "path"]),
)
def test_names_made_of_the_projects_words_do_not_look_secret(words: list[str], style: str):
    """Up to four words of the project's prose joined as snake_case, kebab-case, UPPER_CASE, camelCase,
    PascalCase, a Header-Name, a.dotted.name or a /path: never taken for a credential."""
    if style in ("camel", "pascal"):  # a one-letter word is rare in CamelCase: aAnAnBeyond is nobody's name
        words = [word for word in words if len(word) > 1] or ["word"]
    name = _joined(words, style)
    assert not looks_secret(name), name


@given(st.binary(min_size=8, max_size=64))
def test_every_token_hex_looks_secret(raw: bytes):
    """secrets.token_hex(n) for n >= 8 (16 hex digits or more), whatever the bytes, in either case."""
    assert looks_secret(raw.hex()) and looks_secret(raw.hex().upper())


def _token_urlsafe(rng: random.Random, n: int) -> str:
    """What secrets.token_urlsafe(n) returns, from *rng*'s bytes (the same encoding, step for step)."""
    return base64.urlsafe_b64encode(rng.randbytes(n)).rstrip(b"=").decode("ascii")


#: The most tokens of n bytes a sample may show in clear: the measured rates (docs/secrets.md) with room
#: enough that a sample of 4,000 exceeds them by chance far less than once in 10,000 runs.
MISSED_AT_MOST = ((8, 0.10), (10, 0.05), (12, 0.03), (16, 0.0075), (24, 0.001))


@settings(max_examples=20, deadline=None)
@given(n=st.integers(8, 48), seed=st.integers(0, 2**64))
def test_token_urlsafe_is_caught(n: int, seed: int):
    """Of 4,000 tokens made as secrets.token_urlsafe(n) makes them (n >= 8), at most the documented
    share looks ordinary: a token can be spelled like a name made of words, the likelier the shorter it
    is, so the bound is the measured rate with room to spare, not zero (main missed every one of n < 12,
    and 1 in 9 of n = 16)."""
    rng = random.Random(seed)
    tokens = [_token_urlsafe(rng, n) for _ in range(4000)]
    missed = [token for token in tokens if not looks_secret(token)]
    bound = next(rate for at_least, rate in reversed(MISSED_AT_MOST) if n >= at_least)
    assert len(missed) <= bound * len(tokens), (n, len(missed), missed[:10])
