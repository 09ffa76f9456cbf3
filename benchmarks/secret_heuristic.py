"""How often ``wsbench.secrets.looks_secret`` is right (docs/secrets.md, "How often it is right").

Three jobs, one per flag:

* (default) measure: the share of ``secrets.token_urlsafe(n)`` and ``secrets.token_hex(n)``
  tokens shown in clear for n = 8..32, the strings of the ordinary corpus taken for a
  credential, and the time of one call on 100,000 strings against a bare ``re.fullmatch``
  (the baseline, in the same run);
* ``--table``: print the letter table of ``wsbench/secrets.py`` (``_LETTER_BITS``), made from
  /usr/share/dict/words (Debian's wamerican) and the names of Python's standard library;
* ``--corpus FILE``: write the ordinary corpus of tests/test_secret_heuristic.py
  (tests/secret_heuristic_corpus.txt) from the same sources.

Needs /usr/share/dict/words for --table and --corpus (``apt-get install wamerican``).

Run: .venv/bin/python benchmarks/secret_heuristic.py [--samples 20000] [--table] [--corpus FILE]
"""

from __future__ import annotations

import argparse
import base64
import io
import math
import random
import re
import sysconfig
import time
import tokenize
from collections import Counter
from itertools import pairwise
from pathlib import Path

from wsbench.secrets import looks_secret

ROOT = Path(__file__).resolve().parent.parent
DICT = Path("/usr/share/dict/words")
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def english_words() -> list[str]:
    """The ASCII words of the system's word list, as written."""
    return [w for w in DICT.read_text(encoding="utf-8").split() if w.isascii() and w.isalpha()]


def stdlib_names() -> list[str]:
    """Every name in Python's standard library (not its tests), sorted."""
    lib = Path(sysconfig.get_paths()["stdlib"])
    names: set[str] = set()
    for path in sorted(lib.rglob("*.py")):
        if "site-packages" in path.parts or "test" in path.parts or "tests" in path.parts:
            continue
        try:
            source = path.read_text(encoding="utf-8")
            names.update(
                t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.NAME
            )
        except (UnicodeDecodeError, tokenize.TokenError, SyntaxError, IndentationError):
            continue
    return sorted(names)


def letter_table() -> str:
    """``_LETTER_BITS``: for each letter before (``^`` starts a word), how many bits each next
    letter (``$`` ends the word) costs, -log2 of its share, rounded, 15 at most; one hex digit each."""
    words = [w.lower() for w in english_words()]
    words += [w.lower() for name in stdlib_names() for w in _WORD.findall(name) if len(w) > 1]
    pairs: Counter[tuple[str, str]] = Counter()
    starts: Counter[str] = Counter()
    for word in words:
        word = f"^{word}$"
        for a, b in pairwise(word):
            pairs[a, b] += 1
            starts[a] += 1
    rows = []
    for a in "^" + _ALPHABET:
        bits = [min(15, round(-math.log2((pairs[a, b] + 0.5) / (starts[a] + 0.5 * 27)))) for b in _ALPHABET + "$"]
        rows.append(f'    "{a}{"".join(f"{b:x}" for b in bits)}",')
    return "\n".join(rows)


def _joined(rng: random.Random, words: list[str]) -> str:
    """Two or three of *words* joined as a name, in one of the ways people write names."""
    picked = [w.lower() for w in rng.sample(words, rng.randint(2, 3))]
    style = rng.choice(["snake", "kebab", "upper", "camel", "pascal", "header"])
    if style == "snake":
        return "_".join(picked)
    if style == "kebab":
        return "-".join(picked)
    if style == "upper":
        return "_".join(w.upper() for w in picked)
    if style == "camel":
        return picked[0] + "".join(w.capitalize() for w in picked[1:])
    if style == "pascal":
        return "".join(w.capitalize() for w in picked)
    return "-".join(w.capitalize() for w in picked)


def _numbered(rng: random.Random, words: list[str]) -> str:
    """A word with a number, as names carry one: room42, user_2024, report-v3, step2_done."""
    word = rng.choice(words).lower()
    return rng.choice(
        [
            f"{word}{rng.randint(0, 9999)}",
            f"{word}_{rng.randint(1990, 2030)}",
            f"{word}-v{rng.randint(1, 20)}",
            f"{word}{rng.randint(0, 99)}_{rng.choice(words).lower()}",
        ]
    )


def corpus() -> dict[str, list[str]]:
    """The ordinary corpus by section: only strings that *could* be taken for a token (11
    characters or more of letters, digits, ``_`` and ``-``), since no other one ever is."""
    english = english_words()
    rng = random.Random(21)
    short = [w for w in english if w.islower() and len(w) > 1]
    sections = {
        "English words (wamerican 2020.12.07)": english,
        "names of Python's standard library": stdlib_names(),
        "names joined from English words": [_joined(rng, short) for _ in range(8000)],
        "English words with numbers": [_numbered(rng, short) for _ in range(8000)],
    }
    token_like = re.compile(r"[A-Za-z0-9_-]{11,}")
    return {name: sorted({s for s in values if token_like.fullmatch(s)}) for name, values in sections.items()}


def measure(samples: int) -> None:
    rng = random.Random(8)
    print(f"tokens shown in clear, of {samples:,} per size:")
    print("n   token_urlsafe(n)   token_hex(n)")
    for n in range(8, 33):
        urlsafe = sum(
            not looks_secret(base64.urlsafe_b64encode(rng.randbytes(n)).rstrip(b"=").decode()) for _ in range(samples)
        )
        hexed = sum(not looks_secret(rng.randbytes(n).hex()) for _ in range(samples))
        print(f"{n:<3} {urlsafe:>8} ({urlsafe / samples:.3%})   {hexed:>6}")
    if DICT.exists():
        print("ordinary strings taken for a credential:")
        for name, values in corpus().items():
            flagged = [s for s in values if looks_secret(s)]
            print(f"  {name}: {len(flagged)} of {len(values):,}  {flagged[:6]}")
    strings = [base64.urlsafe_b64encode(rng.randbytes(rng.randint(4, 24))).rstrip(b"=").decode() for _ in range(50_000)]
    strings += [w for w in stdlib_names() if len(w) > 3][:50_000]
    token = re.compile(r"[A-Za-z0-9._~+/=:-]+")
    start = time.perf_counter()
    for s in strings:
        token.fullmatch(s)
    base = time.perf_counter() - start
    start = time.perf_counter()
    for s in strings:
        looks_secret(s)
    took = time.perf_counter() - start
    print(
        f"looks_secret on {len(strings):,} strings: {took:.2f} s, {took / len(strings) * 1e6:.1f} µs each; "
        f"re.fullmatch alone {base:.3f} s ({took / base:.0f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--table", action="store_true", help="print the letter table of wsbench/secrets.py")
    parser.add_argument("--corpus", type=Path, help="write the ordinary corpus of the tests to this file")
    args = parser.parse_args()
    if args.table:
        print(letter_table())
    elif args.corpus:
        with args.corpus.open("w", encoding="utf-8") as out:
            for name, values in corpus().items():
                out.write(f"# {name}\n")
                out.writelines(f"{s}\n" for s in values)
    else:
        measure(args.samples)


if __name__ == "__main__":
    main()
