"""Modules talk to each other through public names only: nothing private crosses a module."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "ordermill"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_names_used_across_modules(source: str) -> list[str]:
    """``from ordermill… import _x`` and ``module._x`` on an imported ordermill module."""
    tree = ast.parse(source)
    found: list[str] = []
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ordermill"):
            for alias in node.names:
                if _is_private(alias.name):
                    found.append(f"from {node.module} import {alias.name}")
                modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ordermill"):
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and _is_private(node.attr)
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_the_check_sees_both_ways_of_reaching_a_private_name() -> None:
    source = (
        "from ordermill.services.orders import _insert_order, place_order\n"
        "from ordermill.services import workflow\n"
        "from ordermill import __version__\n"
        "workflow._claim(1)\n"
        "workflow.pay(1)\n"
    )

    assert private_names_used_across_modules(source) == [
        "from ordermill.services.orders import _insert_order",
        "workflow._claim",
    ]


def test_no_module_imports_a_private_name_from_another() -> None:
    offences = {
        str(path.relative_to(SRC)): found
        for path in sorted(SRC.rglob("*.py"))
        if (found := private_names_used_across_modules(path.read_text(encoding="utf-8")))
    }

    assert offences == {}
