"""Student copies of the notebooks: the exercises' solutions taken out, the way nbgrader's
``generate_assignment`` takes them out, into a folder of the learner's own (``make lab``).

Each solution region, from the ``### BEGIN SOLUTION`` line to the ``### END SOLUTION`` line, becomes
``# YOUR CODE HERE`` / ``raise NotImplementedError()`` (indented like the BEGIN line); a solution cell
without a region becomes that stub entirely (nbgrader 0.9's ``ClearSolutions``). The outputs of the
exercise cells (answers and checks) are cleared, since a stored ``✓`` or a printed value would give the
answer away; the other cells keep theirs, so a copy reads like the full notebook before it is run.

A copy is written once. Running again adds the notebooks that are new and refreshes a copy only if the
learner never changed it (its bytes are still those written last time, recorded in
``.wsbench-copies.json``); a copy the learner edited, ran or saved is never overwritten.

    python -m wsbench.student notebooks notebooks/student
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["BEGIN", "END", "STUB", "main", "strip_region", "student_version", "write_copies"]

BEGIN, END = "BEGIN SOLUTION", "END SOLUTION"
STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
#: Beside the copies: the sha256 of each copy as written, to tell an untouched copy from the learner's work.
RECORD = ".wsbench-copies.json"
#: Relative links in markdown to anything but a sibling notebook (those are copied too): from the
#: copies' folder, they point one folder further up.
_RELATIVE_LINK = re.compile(r"\]\((?!(?:[a-z][a-z0-9+.-]*:|#|/|[^)\s/]+\.ipynb(?:#[^)\s]*)?\)))([^)\s]+)\)")


def strip_region(source: str) -> tuple[str, bool]:
    """*source* with each solution region replaced by the stub, as nbgrader does; and whether one was."""
    kept: list[str] = []
    inside = replaced = False
    for line in source.split("\n"):
        if BEGIN in line:
            if inside:
                raise ValueError(f"a second {BEGIN} before {END} in:\n{source}")
            inside = replaced = True
            indent = line[: len(line) - len(line.lstrip())]
            kept.extend(indent + stub for stub in STUB)
        elif END in line:
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise ValueError(f"no {END} after {BEGIN} in:\n{source}")
    return "\n".join(kept), replaced


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _nbgrader(cell: dict[str, Any]) -> dict[str, Any]:
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def student_version(notebook: dict[str, Any], *, relink: str = "") -> dict[str, Any]:
    """*notebook* (its JSON, changed in place and returned) with the solutions taken out.

    *relink* is put in front of each relative markdown link that leads out of the folder (``"../"`` for
    a copy one folder deeper); links to sibling notebooks stay, leading to their copies.
    """
    for cell in notebook.get("cells", []):
        source, replaced = strip_region(_source(cell))
        meta = _nbgrader(cell)
        if not replaced and meta.get("solution"):
            source = "\n".join(STUB) if cell.get("cell_type") == "code" else "YOUR ANSWER HERE"
        if cell.get("cell_type") == "markdown" and relink:
            source = _RELATIVE_LINK.sub(lambda m: f"]({relink}{m.group(1)})", source)
        cell["source"] = source
        if cell.get("cell_type") == "code" and meta:
            cell["outputs"], cell["execution_count"] = [], None
    return notebook


def _dump(notebook: dict[str, Any]) -> bytes:
    """The notebook as nbformat writes it (so that saving it unchanged in Jupyter changes little)."""
    return (json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def write_copies(source: Path, target: Path) -> dict[str, list[str]]:
    """Copy each notebook of *source* into *target* without its solutions, never over the learner's work.

    Returns the notebooks' names by what happened to them: ``written`` (new), ``refreshed`` (untouched
    since written, and the full notebook changed), ``kept`` (the learner's copy, left as it is).
    """
    notebooks = sorted(source.glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks (*.ipynb) in {source}")
    target.mkdir(parents=True, exist_ok=True)
    inside = target.resolve().is_relative_to(source.resolve())
    relink = "../" * len(target.resolve().relative_to(source.resolve()).parts) if inside else ""
    record_path = target / RECORD
    record: dict[str, str] = json.loads(record_path.read_text()) if record_path.is_file() else {}
    done: dict[str, list[str]] = {"written": [], "refreshed": [], "kept": []}
    for path in notebooks:
        copy = target / path.name
        data = _dump(student_version(json.loads(path.read_text(encoding="utf-8")), relink=relink))
        digest = hashlib.sha256(data).hexdigest()
        if not copy.exists():
            outcome = "written"
        elif hashlib.sha256(copy.read_bytes()).hexdigest() == record.get(path.name):
            if record[path.name] == digest:
                continue  # as written, and still what the full notebook gives
            outcome = "refreshed"
        else:
            done["kept"].append(path.name)
            continue
        copy.write_bytes(data)
        record[path.name] = digest
        done[outcome].append(path.name)
    record_path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return done


def main(argv: list[str] | None = None) -> int:
    """``python -m wsbench.student SOURCE TARGET``: make or update the student copies; say what happened."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m wsbench.student NOTEBOOKS_FOLDER COPIES_FOLDER", file=sys.stderr)
        return 2
    source, target = Path(args[0]), Path(args[1])
    try:
        done = write_copies(source, target)
    except (OSError, ValueError) as exc:
        print(f"wsbench.student: {exc}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{len(names)} {what}" for what, names in done.items() if names) or "all up to date"
    print(f"student copies in {target} ({counts}); the full notebooks, with the solutions, are in {source}")
    if done["kept"]:
        print(f"  your own copies, left as they are: {', '.join(done['kept'])}")
        print("  (for a fresh copy of one, rename or delete it and run this again)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
