"""Model classes stay cheap to import."""

from __future__ import annotations


def test_every_model_skips_tortoises_source_parsing() -> None:
    """Without _no_comments Tortoise parses the model's source file at import (slow start-up)."""
    import ast
    from pathlib import Path

    from tortoise.models import Model

    import models

    root = Path(models.__file__).parent
    missing = []
    for path in sorted(root.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Name) and base.id == Model.__name__ for base in node.bases
            ):
                own = {
                    target.id
                    for stmt in node.body
                    if isinstance(stmt, ast.Assign)
                    for target in stmt.targets
                    if isinstance(target, ast.Name)
                }
                if "_no_comments" not in own:
                    missing.append(f"{path.name}:{node.name}")
    assert missing == [], "add `_no_comments = True` to each (see models/tables.py)"
