"""Which library code a job runs, derived from the code itself, and its digest.

A rule's `code` param is the digest of the lthpipe modules its function can run:
the function's own module, every lthpipe module that module imports at its top,
every lthpipe module the function imports in its body, and, transitively, what
those import at their top and in their bodies. Read statically (``ast``), so
parsing the workflow never imports torch. Editing a module reruns exactly the
jobs whose functions can reach it; the warm worker's name uses the same digest of
the whole package (``source_digest``).
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
NAME = PACKAGE.name


def source_digest(files: Iterable[Path], root: Path = PACKAGE) -> hashlib._Hash:
    """A sha256 of files' paths (relative to root) and contents, in sorted order."""
    digest = hashlib.sha256()
    for file in sorted(files):
        digest.update(str(file.relative_to(root)).encode() + b"\0")
        digest.update(file.read_bytes())
    return digest


def module_file(module: str, root: Path = PACKAGE) -> Path | None:
    """The source file of an lthpipe module (a package's __init__.py), or None."""
    parts = module.split(".")
    if parts[0] != NAME:
        return None
    base = root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parents(module: str) -> list[str]:
    """Importing a.b.c runs a/__init__ and a/b/__init__ first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imported(node: ast.AST, module: str, is_package: bool) -> set[str]:
    """The lthpipe modules an import statement (or every import under node) names."""
    found: set[str] = set()
    for item in ast.walk(node):
        if isinstance(item, ast.Import):
            found.update(alias.name for alias in item.names)
        elif isinstance(item, ast.ImportFrom):
            if item.level:  # relative: from the module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(package[: len(package) - item.level + 1] + ([item.module] if item.module else []))
            else:
                base = item.module or ""
            found.add(base)
            # `from lthpipe import stages` names a module; `from lthpipe.x import f` a name in one.
            found.update(f"{base}.{alias.name}" for alias in item.names)
    return {m for m in found if m.split(".")[0] == NAME}


@cache
def _module_imports(module: str, root: Path) -> frozenset[str]:
    """Every lthpipe module a module can run: its parent packages (run on import) and
    what it imports anywhere, at its top or lazily in a function or class body."""
    file = module_file(module, root)
    if file is None:
        return frozenset()
    names = set(_parents(module)) | _imported(ast.parse(file.read_text(), str(file)), module, file.name == "__init__.py")
    return frozenset(n for n in names if module_file(n, root) is not None)


def modules_behind(target: str, root: Path = PACKAGE) -> list[str]:
    """The lthpipe modules `target` ("lthpipe.module:function") can run: its module and,
    transitively, every lthpipe module a reached module imports, at its top or in any
    function or class body (a function may call any function of its module). A module
    is the unit: functions that must not share a rerun key live in different modules."""
    module, _, function = target.partition(":")
    file = module_file(module, root)
    if file is None or not any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function
                               for node in ast.parse(file.read_text()).body):
        raise ValueError(f"{target}: no such lthpipe function")
    reached: set[str] = set()
    frontier = {module}
    while frontier:
        current = frontier.pop()
        if current in reached:
            continue
        reached.add(current)
        frontier |= _module_imports(current, root)
    return sorted(reached)


@cache
def code_version(target: str, root: Path = PACKAGE) -> str:
    """The digest of the modules behind a rule's function: the rule's `code` param."""
    files = {module_file(m, root) for m in modules_behind(target, root)}
    return source_digest((f for f in files if f is not None), root).hexdigest()[:16]
