"""The layers of wsbench, checked the way Python sees them: import each module alone in a
fresh interpreter and look at what it loaded.

* Arrows point one way at import time: a module loads wsbench modules of lower layers
  only (and the rest of its own package).
* The vocabulary and the transcript load no third-party package; the conversation layer
  and codegen (and the test files codegen writes) load no fastapi, uvicorn or websockets.
* ``import wsbench`` loads nothing of wsbench but itself (its names load on first use).
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest

import wsbench
from wsbench.transcript import Event, Transcript

#: Each module's layer: a module may load wsbench modules of a lower layer, and its own package.
LAYERS = {
    # the vocabulary: stdlib only
    "wsbench.errors": 0,
    "wsbench._gate": 0,
    "wsbench._net": 0,  # loopback (and loopback_path) and uvicorn's implementation names
    "wsbench._text": 0,  # the one escaping of printed lines, and the one preview of a payload
    "wsbench.student": 0,  # student copies of the notebooks (make lab): stdlib only
    "wsbench.codes": 1,
    "wsbench.secrets": 1,
    "wsbench.states": 1,
    "wsbench.kinds": 1,
    "wsbench.predictions": 1,  # why each prediction exercise comes out as it does: text, stdlib only
    "wsbench._paths": 1.2,  # the one check of a path a caller gives (InvalidPath), secrets masked
    "wsbench._jupyter": 1.5,  # where a browser reaches a loopback port: stdlib only, checked with the vocabulary
    "wsbench.transcript": 2,
    "wsbench.asserts": 3,  # what generated tests call: kept stable
    "wsbench.conversation": 3.5,
    "wsbench.codegen": 4,
    "wsbench.loop": 4,
    "wsbench._service": 5,
    "wsbench.locustgen": 5,  # locustfiles from a transcript: on codegen's literals; loads no locust or gevent
    "wsbench.client": 6,
    "wsbench.browser_link": 6,  # the bench's end of a browser page's control socket
    "wsbench.server": 7,
    "wsbench.widgets": 8,
    "wsbench.proxy": 8,
    "wsbench.replay": 8,
    "wsbench.replay_many": 8,  # several clients replayed in their recorded order (issue 23)
    "wsbench.testing": 8,  # the live client of TestClient-style tests
    "wsbench.pytest_plugin": 9,  # the fixtures, on the live client; loaded into every pytest run
    "wsbench.exercises": 8,
    "wsbench.swarm": 8,  # wsbench.load: Locust in a subprocess, never imported
    "wsbench.demo": 9,
    "wsbench.upgrade": 9,  # replays against an app served under other versions
    "wsbench._app_server": 9,  # the upgrade check's server script: run alone, it loads no wsbench module
    "wsbench.cli": 10,
    "wsbench.__main__": 11,
}
#: Third-party packages that do I/O (or a UI): what the low layers must not load.
IO_PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "websockets",
    "wsproto",
    "anyio",
    "httpx",
    "ipywidgets",
    "anywidget",
    "jsonpath_ng",
)
SERVER_PACKAGES = ("fastapi", "starlette", "uvicorn", "websockets")


def all_modules() -> list[str]:
    """Every module of the wsbench package, sub-packages included."""
    root = Path(wsbench.__file__).parent
    return ["wsbench"] + [info.name for info in pkgutil.walk_packages([str(root)], prefix="wsbench.")]


def home(module: str) -> str:
    """The entry of LAYERS a module belongs to (its own name, or its package's)."""
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        if ".".join(parts[:n]) in LAYERS:
            return ".".join(parts[:n])
    raise AssertionError(f"{module} has no layer: add it to LAYERS in tests/test_layers.py")


@cache
def loaded_by_all() -> dict[str, list[str]]:
    """module -> the modules a fresh interpreter holds after importing it (two at a time)."""
    code = "import importlib, json, sys; importlib.import_module(sys.argv[1]); print(json.dumps(sorted(sys.modules)))"

    def load(module: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", code, module], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, f"import {module} failed:\n{done.stderr}"
        return json.loads(done.stdout)

    modules = all_modules()
    with ThreadPoolExecutor(2) as pool:
        return dict(zip(modules, pool.map(load, modules), strict=True))


@cache
def loaded_at_start() -> list[str]:
    """The modules a fresh interpreter holds before it imports anything."""
    code = "import json, sys; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def packages_loaded(loaded: list[str], packages: tuple[str, ...]) -> list[str]:
    """Which of *packages* appear (as top-level names) in *loaded*."""
    return sorted({name.split(".")[0] for name in loaded} & set(packages))


def test_every_module_has_a_layer():
    """Each wsbench module is in the layer table, so a new one cannot dodge the rules."""
    for module in all_modules():
        if module != "wsbench":
            home(module)


@pytest.mark.parametrize("module", [m for m in all_modules() if m != "wsbench"])
def test_arrows_point_one_way(module):
    """Importing a module loads only wsbench modules of lower layers, or of its own package."""
    mine = home(module)
    wrong = [
        other
        for other in loaded_by_all()[module]
        if other.startswith("wsbench.") and home(other) != mine and LAYERS[home(other)] >= LAYERS[mine]
    ]
    assert not wrong, f"{module} (layer {LAYERS[mine]}) loads {wrong} at import time"


def test_import_wsbench_loads_nothing_else():
    """``import wsbench`` loads no other wsbench module and no third-party I/O package."""
    loaded = loaded_by_all()["wsbench"]
    assert [m for m in loaded if m.startswith("wsbench.")] == []
    assert packages_loaded(loaded, IO_PACKAGES) == []


@pytest.mark.parametrize("module", [m for m, layer in LAYERS.items() if layer <= 2])
def test_vocabulary_and_transcript_load_only_the_standard_library(module):
    """The vocabulary and the transcript are pure: nothing outside the standard library (and wsbench) at import."""
    added = set(loaded_by_all()[module]) - set(loaded_at_start())  # not site's start-up hooks (an editable install's)
    outside = {name.split(".")[0] for name in added} - set(sys.stdlib_module_names) - {"wsbench"}
    assert sorted(outside) == []


@pytest.mark.parametrize(
    "module",
    [
        "wsbench.asserts",
        "wsbench.conversation",
        "wsbench.codegen",
        "wsbench.testing",
        "wsbench.pytest_plugin",
        "wsbench.locustgen",
        "wsbench.swarm",
    ],
)
def test_conversation_codegen_and_plugin_load_no_server_or_client(module):
    """The conversation layer, codegen, the locustfile writer, the swarm and the auto-loaded pytest plugin load no
    fastapi, uvicorn or websockets, and no Locust or gevent (whose monkey-patching hangs a kernel)."""
    assert packages_loaded(loaded_by_all()[module], (*SERVER_PACKAGES, "locust", "gevent")) == []


def test_generated_test_files_load_no_server_or_client(tmp_path):
    """A test file written by codegen imports without loading fastapi, uvicorn or websockets."""
    events = [
        Event(seq=1, time=0.0, side="client", kind="connect", conn=7, data="ws://127.0.0.1:9/echo"),
        Event(seq=2, time=0.0, side="client", kind="open", conn=7),
        Event(seq=3, time=0.0, side="client", kind="send", conn=7, data='{"n": 1}'),
        Event(seq=4, time=0.0, side="client", kind="receive", conn=7, data='{"n": 1, "id": 3}'),
        Event(seq=5, time=0.0, side="client", kind="close", conn=7, code=1000, reason=""),
        Event(seq=6, time=0.0, side="client", kind="closed", conn=7, code=1000, reason="", by="client"),
    ]
    path = Transcript(events).to_pytest(tmp_path / "test_generated.py", url="ws://127.0.0.1:9")
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('generated', {str(path)!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert packages_loaded(json.loads(done.stdout), SERVER_PACKAGES) == []
