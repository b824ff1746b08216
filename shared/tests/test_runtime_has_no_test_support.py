"""cowork.shared is the runtime of every service and goes into the production image: it must not
need the test tools. Cowork's own test support lives in cowork.devtools (dev only), the partners'
in cowork.testkit; neither, nor pytest or the local devstack, may be imported by cowork.shared —
not at import time (checked by importing every module in a fresh interpreter) and not lazily
inside a function (checked on the source)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import cowork.shared

# Top-level distributions and cowork packages that only development environments have.
FORBIDDEN = ("pytest", "_pytest", "hypothesis", "testcontainers", "cowork.devtools",
             "cowork.testkit", "cowork.devstack")

SHARED = Path(cowork.shared.__file__).parent


def _forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


def test_importing_every_module_of_cowork_shared_loads_no_test_tool() -> None:
    script = (
        "import importlib, json, pkgutil, sys\n"
        "import cowork.shared\n"
        "names = [m.name for m in pkgutil.walk_packages(cowork.shared.__path__, 'cowork.shared.')\n"
        "         if not m.name.endswith('__main__')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps({'imported': names, 'loaded': sorted(sys.modules)}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, timeout=120)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "cowork.shared.api" in report["imported"]  # the walk did find the package's modules
    assert [m for m in report["loaded"] if _forbidden(m)] == []


def test_no_module_of_cowork_shared_names_a_test_tool() -> None:
    offenders = []
    for path in sorted(SHARED.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            offenders += [f"{path.relative_to(SHARED)}:{node.lineno} {name}"
                          for name in names if _forbidden(name)]
    assert offenders == []
