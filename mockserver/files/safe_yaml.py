"""YAML as people write it, read safely: PyYAML's safe loader, plus two refusals it lacks.

- A key given twice in one mapping is an error (PyYAML keeps the last silently: half an edit lost).
  Keys a merge (`<<: *base`) brings in may still be overridden, as YAML means them to be.
- A Python tag (`!!python/object/apply:os.system [...]`) is refused by name, never constructed. vcrpy
  cassettes written under Python 2 tag plain strings `!!python/unicode` or `!!python/str`, and some
  tuples `!!python/tuple`; `load(..., python_strings=True)` reads those three as strings and lists.

Errors are `yaml.YAMLError`s with the line and column, as PyYAML's own are.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_PYTHON_TAG = "tag:yaml.org,2002:python/"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class StrictLoader(yaml.SafeLoader):
    """The safe loader, refusing duplicate keys and naming Python tags."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                    continue
                key = self.construct_object(key_node)
                if key in seen:
                    raise ConstructorError("while reading a mapping", node.start_mark,
                                           f"the key {key!r} is given twice (first on line "
                                           f"{seen[key].start_mark.line + 1})", key_node.start_mark)
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _refuse_python(loader: yaml.SafeLoader, suffix: str, node: Node) -> Any:
    raise ConstructorError(None, None, f"the tag !!python/{suffix} asks for a Python object, which is never "
                                       "built here (it could run code)", node.start_mark)


StrictLoader.add_multi_constructor(_PYTHON_TAG, _refuse_python)


class PythonStringsLoader(StrictLoader):
    """`StrictLoader`, reading the plain-data Python tags old vcrpy cassettes hold."""


def _python_string(loader: yaml.SafeLoader, node: Node) -> Any:
    if not isinstance(node, ScalarNode):
        raise ConstructorError(None, None, f"{node.tag} must tag a string", node.start_mark)
    return loader.construct_scalar(node)


def _python_tuple(loader: yaml.SafeLoader, node: Node) -> Any:
    if not isinstance(node, SequenceNode):
        raise ConstructorError(None, None, f"{node.tag} must tag a sequence", node.start_mark)
    return loader.construct_sequence(node)


for _name in ("unicode", "str"):
    PythonStringsLoader.add_constructor(f"{_PYTHON_TAG}{_name}", _python_string)
PythonStringsLoader.add_constructor(f"{_PYTHON_TAG}tuple", _python_tuple)


def load(text: str, *, python_strings: bool = False) -> Any:
    """The document in `text` (one document; None if empty). Raises `yaml.YAMLError` or `RecursionError`."""
    return yaml.load(text, Loader=PythonStringsLoader if python_strings else StrictLoader)
