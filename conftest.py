"""Root conftest: what applies to notebooks as well as tests (nbval collects notebooks/ from here).

The test suite's own fixtures and helpers are in tests/conftest.py (imported there as
``from conftest import wait_until``: pytest's pythonpath puts tests/ first).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import warnings
from typing import Any

import pytest
from ports import kernel_ports_below_the_ephemeral_range  # tests/, on pytest's pythonpath

_SPOOLS: list[str] = []  # the folder this process made for the run (the controller's, under xdist)


def pytest_configure(config: pytest.Config) -> None:
    """Every transcript spool and temporary file of the run, and of every process it starts (kernels,
    `wsbench serve`, Locust, killed subprocesses), goes to one folder of its own (their TMPDIR),
    removed at the end: a run leaves /tmp as it was (notebook 37's and load()'s report folders too).
    Kernels take ports no outgoing connection can take first (tests/ports.py),
    and one that dies at start says why and is started once more (:func:`_kernels_that_die_at_start_say_why`)."""
    if not os.environ.get("WSBENCH_SPOOL_DIR"):  # set already: an xdist worker of this run, or the caller's
        _SPOOLS.append(tempfile.mkdtemp(prefix="wsbench-test-run-"))
        os.environ["WSBENCH_SPOOL_DIR"] = os.environ["TMPDIR"] = tempfile.tempdir = _SPOOLS[-1]
    kernel_ports_below_the_ephemeral_range()
    _kernels_that_die_at_start_say_why()


def _kernels_that_die_at_start_say_why() -> None:
    """A notebook's kernel (nbval's) that dies or does not answer its first request in time, before
    any cell ran, is started once more, with a warning that shows what it wrote to stderr; twice,
    and the notebook fails with that text. nbval sends a kernel's stderr to /dev/null, so such a
    kernel (one that died in a lowest-versions run, one that did not answer in a fresh-clone run,
    with four workers) said nothing."""
    try:
        import nbval.kernel as nbval_kernel
    except ImportError:
        return
    start = nbval_kernel.start_new_kernel

    def start_new_kernel(**kwargs: Any) -> Any:
        given = kwargs.pop("stderr", None)
        if given is not None:
            given.close()  # nbval's /dev/null, kept open by nobody else
        for attempt in (1, 2):
            with tempfile.TemporaryFile() as stderr:  # the kernel writes through its own descriptor
                try:
                    return start(**kwargs, stderr=stderr)
                except RuntimeError as exc:  # "died before replying", or "didn't respond in 60 seconds"
                    if "died" not in str(exc) and "respond" not in str(exc):
                        raise
                    stderr.seek(0)
                    said = stderr.read()[-4000:].decode("utf-8", "replace").strip() or "(nothing)"
                    if attempt == 2:
                        raise RuntimeError(f"{exc}, twice; what it wrote to stderr:\n{said}") from None
                    warnings.warn(f"{exc}; started again. What it wrote to stderr:\n{said}", stacklevel=1)
        raise AssertionError("unreachable")

    nbval_kernel.start_new_kernel = start_new_kernel


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _SPOOLS:
        shutil.rmtree(folder, ignore_errors=True)


#: The files that take longest (worker-seconds in a make test run, read from ``--junitxml``), longest
#: first. They are collected first, and make test hands files to its workers in collection order
#: (``--dist loadfile --no-loadscope-reorder``; xdist's own order is by number of tests), so none
#: of them starts last and keeps the run going while the other workers are idle.
LONGEST_FIRST = (
    "tests/test_learner_path.py",  # Run All of every notebook's student version: 128 s
    "tests/test_locust_run.py",  # Locust processes: 83 s
    "tests/test_37_load_runs.py",  # notebook 37's Run All, with its swarms: 74 s
    "notebooks/37_load.ipynb",  # the same swarms under nbval: 68 s
    "tests/test_load.py",  # 1,000 connections, 10**6 messages: 67 s
    "tests/test_browser.py",  # JupyterLab in Chromium: 64 s
    "tests/test_benchmarks_run.py",  # each benchmark at a small size: about 60 s
    "tests/test_cli.py",
    "tests/test_faults.py",
    "tests/test_plugin.py",
    "tests/test_codegen.py",
    "notebooks/exploratory_testing.ipynb",
    "tests/test_many_clients.py",
    "tests/test_upgrade.py",
    "tests/test_jupyterhub.py",
    "tests/test_locust_kernel.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first (:data:`LONGEST_FIRST`); nbval cells are marked ``notebooks``
    (``make check`` leaves them out); nbval: leave the widgets' static HTML out of the comparison
    (a panel's or timeline's text/html shows whatever had arrived when the cell ended, and notebooks
    stored before it existed lack it); text/plain, their deterministic form, is still compared."""
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
    needs_locust = pytest.mark.skip(reason="notebook 37 swarms with Locust: the load extra, which needs Python 3.11+")
    locust = importlib.util.find_spec("locust") is not None
    for item in items:
        parent = item.parent
        if type(parent).__name__ == "IPyNbFile":
            item.add_marker(pytest.mark.notebooks)
        if not locust and "37_load" in item.nodeid:  # on Python 3.10 (the lowest-versions run) only
            item.add_marker(needs_locust)
        if type(parent).__name__ == "IPyNbFile" and "text/html" not in parent.skip_compare:  # type: ignore[union-attr]
            parent.skip_compare = (*parent.skip_compare, "text/html")  # type: ignore[union-attr]


# What a notebook teaches can change with an upstream release: every run says which versions it
# ran on, and every failure repeats them, so a failing cell names the version that changed it.
UPSTREAM = ("uvicorn", "starlette", "fastapi", "websockets", "wsproto", "jupyterlab", "ipywidgets")


def upstream_versions() -> str:
    """`name version` of each upstream package the notebooks teach, and Python's."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    found = [f"python {platform.python_version()}"]
    for name in UPSTREAM:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def pytest_report_header() -> str:
    return f"upstream: {upstream_versions()}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        report.sections.append(("upstream versions", upstream_versions()))


# A learner's own copies (make lab: notebooks without the solutions, gitignored) are not the suite's.
collect_ignore = ["notebooks/student"]
