"""pyproject.toml and environment.yml must list the same packages with the same bounds."""

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the check needs to run on one version only

ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _split(requirement: str) -> tuple[str, str]:
    requirement = requirement.split(";", 1)[0]  # an environment marker (conda has none: it picks by Python)
    match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?(.*)", requirement.strip())
    assert match, requirement
    return match.group(1).lower().replace("_", "-"), match.group(2).strip()


def _pip_requirements() -> dict[str, str]:
    project = _pyproject()
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    return dict(_split(r) for r in requirements)


def _conda_requirements() -> dict[str, str]:
    found = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        match = re.fullmatch(r"  - ([A-Za-z0-9_.\-]+[<>=!~][^\s#]*|[A-Za-z0-9_.\-]+)\s*", line)
        if match:
            name, bound = _split(match.group(1))
            if name not in ("python", "pip"):
                found[name] = bound
    return found


def test_conda_and_pip_list_the_same_packages_and_bounds():
    """environment.yml names exactly the pyproject.toml packages, each with the same lower bound."""
    assert _conda_requirements() == _pip_requirements()


def test_python_floor_agrees():
    """Both files ask for the same minimum Python."""
    assert f"python{_pyproject()['requires-python']}" in (ROOT / "environment.yml").read_text()


def test_make_lab_serves_loopback_with_token_auth():
    """The README's lab command binds 127.0.0.1 and leaves JupyterLab's token auth on."""
    makefile = (ROOT / "Makefile").read_text()
    lab = next(line for line in makefile.splitlines() if "jupyter lab" in line and not line.startswith("#"))
    assert "--ServerApp.ip=127.0.0.1" in lab
    assert "token" not in lab.lower() and "password" not in lab.lower()  # no way to switch auth off
