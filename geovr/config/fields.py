"""Read a config dataclass's attribute docstrings, the string literal under each field
(as torchtitan documents its job config), so the CLI help and the pipeline docs quote the
one text that explains a knob.

    field_docs(TrainConfig)["grad_accum"]   # 'Micro-steps per optimizer step.'
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import textwrap
from typing import Any


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """{field name: its docstring, whitespace folded} for every documented field of `cls`."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # the class statement's own statements
    docs = {}
    for statement, following in zip(body, body[1:], strict=False):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.target.id] = " ".join(following.value.value.split())
    return docs


def undocumented_fields(cls: type) -> list[str]:
    """The fields of `cls` without a docstring (the config test requires none)."""
    documented = field_docs(cls)
    return [f.name for f in dataclasses.fields(cls) if f.name not in documented]


def as_dict(config: Any) -> dict[str, Any]:
    """A config as plain JSON values (nested configs as dicts, tuples as lists)."""
    return dataclasses.asdict(config, dict_factory=lambda items: {k: _plain(v) for k, v in items})


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
