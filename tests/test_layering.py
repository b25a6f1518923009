"""SQL lives in gapfill/catalog/ only: a short AST walk over the rest of the package.

Outside the catalog, code asks the catalog's query functions (gapfill.catalog.queries) for rows
and may change the ORM rows it gets (the session's unit of work writes them); it does not build
statements. So outside gapfill/catalog/ this test refuses:
- a call of select(), text(), update(), delete(), insert() or sessionmaker(), or of any .execute();
- an import from SQLAlchemy other than the Session type, its exceptions and make_url (URL
  parsing), which is how a statement builder (func, aliased, or_, ...) would come back in.
Function-local imports and calls count like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "gapfill"
CATALOG = PACKAGE / "catalog"
SQL_CALLS = {"select", "text", "update", "delete", "insert", "sessionmaker"}
ALLOWED_IMPORTS = {
    "sqlalchemy.orm": {"Session"},
    "sqlalchemy.engine": {"make_url"},
    "sqlalchemy.exc": None,  # any exception class
}


def sql_outside_catalog() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if CATALOG in path.parents:
            continue
        where = path.relative_to(PACKAGE.parent)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id in SQL_CALLS:
                    found.append(f"{where}:{node.lineno}: {func.id}()")
                elif isinstance(func, ast.Attribute) and func.attr == "execute":
                    found.append(f"{where}:{node.lineno}: .{func.attr}()")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "sqlalchemy":
                        found.append(f"{where}:{node.lineno}: import {alias.name}")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                allowed = ALLOWED_IMPORTS.get(node.module or "", set())
                for alias in node.names:
                    if allowed is not None and alias.name not in allowed:
                        imported = f"from {node.module} import {alias.name}"
                        found.append(f"{where}:{node.lineno}: {imported}")
    return found


def test_no_sql_outside_the_catalog():
    assert sql_outside_catalog() == []


def test_the_walk_sees_sql(tmp_path: Path):
    """The walk itself: each kind of offence in a sample module is reported."""
    sample = (
        "from sqlalchemy import func, select\n"
        "def f(session):\n"
        "    from sqlalchemy import text\n"
        "    session.execute(text('SELECT 1'))\n"
        "    return session.scalar(select(func.count()))\n"
    )
    tree = ast.parse(sample)
    calls = [n.func for n in ast.walk(tree) if isinstance(n, ast.Call)]
    names = {f.id for f in calls if isinstance(f, ast.Name)} & SQL_CALLS
    attributes = {f.attr for f in calls if isinstance(f, ast.Attribute)} & {"execute"}
    assert names == {"select", "text"} and attributes == {"execute"}
