"""The rules of the layers in app/, read from the code's own imports.

``app.storage`` is the bottom layer, ``app.core`` stands on it, and the Flask layers stand on
the core: ``app.http``, then ``app.web`` and ``app.training``. A layer imports only the layers
below it (and, for the Flask layers, the application's top-level modules), no web framework
reaches the core, and no modules import each other in a circle, not even from inside a
function or for type checking only.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"

#: What each package may import of app/ besides itself; a package not listed may import anything.
ALLOWED: dict[str, set[str]] = {
    # The feature-type table imports nothing of the application: model.json's check asks it too.
    "app.storage": {"app.core.features"},
    "app.core": {"app.storage"},
    "app.launch": {"app.origins", "app.urls"},
    "app.http": {"app.core", "app.storage", "app.extensions", "app.config", "app.logs", "app.urls"},
    "app.web": {"app.core", "app.storage", "app.extensions", "app.config", "app.http", "app.urls"},
    "app.training": {"app.core", "app.storage", "app.extensions", "app.config", "app.http"},
}
#: Web frameworks the lower layers never import.
FRAMEWORKS = ("flask", "werkzeug", "flasgger", "flask_cors", "jinja2")
FRAMEWORK_FREE = ("app.core", "app.storage", "app.launch")


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(APP.rglob("*.py"))}


def imports(name: str, path: Path) -> Iterator[str]:
    """Every module ``name`` imports, wherever the import statement stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    known = modules()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # from package import module: what is used is the module (the package's __init__ runs too,
            # which the rules allow wherever they allow one of its modules)
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
            yield from submodules if len(submodules) == len(node.names) else [base, *submodules]


def owner(module: str) -> str | None:
    """The package of ALLOWED a module belongs to, if any."""
    matches = [p for p in ALLOWED if module == p or module.startswith(p + ".")]
    return max(matches, key=len) if matches else None


def in_app(module: str) -> bool:
    return module == "app" or module.startswith("app.")


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {m for m in imports(name, path) if m in known and m != name} for name, path in known.items()}


def test_the_layers_are_there():
    packages = {name for name in modules() if name.count(".") == 1}
    assert {"app.core", "app.core.codecs", "app.storage", "app.http", "app.web", "app.training"} <= \
        packages | {n for n in modules() if n == "app.core.codecs"}


@pytest.mark.parametrize("name", sorted(n for n in modules() if n.startswith(FRAMEWORK_FREE)))
def test_lower_layers_import_no_web_framework(name):
    found = sorted(m for m in imports(name, modules()[name]) if m.split(".")[0] in FRAMEWORKS)
    assert not found, f"{name} imports {found}: the web framework belongs in app/http and app/web"


def upward(name: str, found: list[str]) -> list[str]:
    """The imports of ``name`` that its layer may not make."""
    layer = owner(name)
    assert layer is not None
    allowed = ALLOWED[layer] | {layer}
    return sorted(m for m in found if in_app(m) and not any(m == a or m.startswith(a + ".") for a in allowed))


@pytest.mark.parametrize("name", sorted(n for n in modules() if owner(n)))
def test_each_layer_imports_only_the_layers_below_it(name):
    wrong = upward(name, list(imports(name, modules()[name])))
    assert not wrong, f"{name} ({owner(name)}) imports {wrong}; it may import {sorted(ALLOWED[owner(name) or ''])}"


def test_the_feature_type_table_is_a_leaf():
    found = sorted(m for m in imports("app.core.features", modules()["app.core.features"]) if in_app(m))
    assert not found, f"app.core.features imports {found}; the storage layer imports it, so it imports nothing of app"


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every circle of imports a depth-first walk of ``edges`` finds, each as the modules in order."""
    found: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    # A package's __init__ is imported with every module in it; only the app factory imports modules back.
    return [c for c in found if not (c[0] == "app" or c[-2] == "app" and c[-1] == c[0])]


def test_no_modules_import_each_other_in_a_circle():
    found = circles(graph())
    assert not found, "import circles: " + "; ".join(" -> ".join(c) for c in found)


def test_the_checks_see_a_broken_rule(tmp_path):
    """The checks themselves: a core module importing Flask and the HTTP layer, and two modules in a circle."""
    core = tmp_path / "fake.py"
    core.write_text("from flask import g\n\ndef f():\n    from app.http import v1\n")
    found = list(imports("app.core.fake", core))
    assert [m for m in found if m.split(".")[0] in FRAMEWORKS] == ["flask"]
    assert upward("app.core.fake", found) == ["app.http.v1"]
    assert upward("app.http.fake", ["app.core.registry", "app.urls"]) == []
    assert circles({"app.core.a": {"app.core.b"}, "app.core.b": {"app.core.a"}}) == [
        ["app.core.a", "app.core.b", "app.core.a"]]
