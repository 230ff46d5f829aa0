"""Packaging contract: every third-party module the project imports is declared, and the licence
ships with the package.

A fresh machine (CI makes a new virtual environment on every run) only has what
``pyproject.toml`` declares, so an import of an undeclared package fails there even when the
developer's machine happens to have it.
"""
from __future__ import annotations

import ast
import functools
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Dict, Iterator, Set, Tuple

ROOT = Path(__file__).resolve().parents[1]
#: folders whose Python files belong to the project (and run in its environment)
PROJECT_DIRS = ("sam2", "training", "tools", "benchmarks", "tests", "examples")
#: folders of scripts that run in another interpreter (the official package's venv, an author's
#: fork's venv), wherever they sit under tests/
FOREIGN_DIR_NAMES = ("oracle_scripts", "reference_scripts")
#: import name -> distribution, for optional packages that may not be installed here
KNOWN_DISTRIBUTIONS = {
    "PIL": "pillow",
    "av": "av",
    "cv2": "opencv-python",
    "huggingface_hub": "huggingface-hub",
    "matplotlib": "matplotlib",
    "pycocotools": "pycocotools",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "submitit": "submitit",
    "yaml": "pyyaml",
}
#: distributions that come with another declared one (not imported by name in requirements)
PROVIDED_BY = {"omegaconf": "hydra-core", "tensorboard": "tensorboard"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> Tuple[Set[str], Dict[str, Set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(reqs) -> Set[str]:
        return {_normalise(re.split(r"[<>=!~\[; ]", r.strip(), maxsplit=1)[0]) for r in reqs}

    extras = {k: names(v) for k, v in project.get("optional-dependencies", {}).items()}
    return names(project.get("dependencies", [])), extras


def _project_files() -> Iterator[Path]:
    for folder in PROJECT_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if not _is_foreign(path):
                yield path


def _is_foreign(path: Path) -> bool:
    return any(part in FOREIGN_DIR_NAMES for part in path.relative_to(ROOT).parts)


@functools.lru_cache(maxsize=None)
def _first_party_names() -> Set[str]:
    """Module names that resolve to the project itself (its packages, and the helper modules
    that scripts and tests put on ``sys.path``)."""
    local = {"sam2", "training", "tests", "conftest"}
    for folder in PROJECT_DIRS:
        for path in (ROOT / folder).rglob("*"):
            if path.suffix == ".py":
                local.add(path.stem)
            elif path.is_dir():
                local.add(path.name)
    return local


def _imports(path: Path) -> Iterator[Tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno


@functools.lru_cache(maxsize=None)
def _installed_distributions() -> Dict[str, list]:
    return metadata.packages_distributions()


def _distribution(module: str) -> str:
    if module in KNOWN_DISTRIBUTIONS:
        return KNOWN_DISTRIBUTIONS[module]
    found = _installed_distributions().get(module)
    assert found, (
        f"cannot tell which distribution provides the imported module {module!r}: add it to "
        "KNOWN_DISTRIBUTIONS in tests/test_packaging.py")
    return found[0]


def test_every_third_party_import_is_declared():
    base, extras = _declared()
    every_extra = set().union(*extras.values()) if extras else set()
    undeclared = []
    for path in _project_files():
        local = _first_party_names()
        for module, line in _imports(path):
            if module in sys.stdlib_module_names or module in local or module == "__future__":
                continue
            dist = _normalise(_distribution(module))
            dist = _normalise(PROVIDED_BY.get(dist, dist)) if dist not in base | every_extra else dist
            if dist not in base | every_extra:
                undeclared.append(f"{path.relative_to(ROOT)}:{line} imports {module} ({dist})")
    assert not undeclared, "imports of undeclared packages:\n" + "\n".join(undeclared)


def test_test_suite_dependencies_are_in_the_dev_extra():
    """The README's install command is ``pip install -e ".[dev]"``: whatever the default test
    suite imports at module level must come with it."""
    base, extras = _declared()
    dev = extras.get("dev", set())
    missing = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if _is_foreign(path):
            continue
        tree = ast.parse(path.read_text())
        local = _first_party_names()
        for node in tree.body:  # module level only: lazy imports belong to optional paths
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module.split(".")[0]]
            for module in mods:
                if module in sys.stdlib_module_names or module in local or module == "__future__":
                    continue
                dist = _normalise(_distribution(module))
                dist = _normalise(PROVIDED_BY.get(dist, dist))
                if dist not in base | dev:
                    missing.append(f"{path.relative_to(ROOT)}: {module} ({dist})")
    assert not missing, "test modules import packages outside base + [dev]:\n" + "\n".join(missing)


def test_licence_file_and_metadata():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert "LICENSE" in project["license-files"]
    meta = metadata.metadata("sam2-rcms")
    licence = meta.get("License-Expression") or meta.get("License")
    assert licence == "Apache-2.0", f"installed metadata says licence {licence!r}"
