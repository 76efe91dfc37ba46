"""Compare two OpenAPI documents' schemas: property names, types, enums and required sets.

The test oracle of `test_contract.py`, which holds our contract to the upstream documents (it can compare any two
versions). Nullability is normalised (OpenAPI 3.0 `nullable` and 3.1 `anyOf [.., null]` alike).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REF_PREFIX = "#/components/schemas/"


@dataclass
class SchemaComparison:
    ours: dict[str, Any]
    upstream: dict[str, Any]
    differences: list[str] = field(default_factory=list)
    _visited: set[tuple[str, str]] = field(default_factory=set)

    def _resolve(self, doc: dict[str, Any], schema: Any) -> tuple[dict[str, Any], str | None]:
        name = None
        while isinstance(schema, dict):
            if "$ref" in schema:
                name = schema["$ref"].removeprefix(REF_PREFIX)
                schema = doc["components"]["schemas"][name]
            elif "allOf" in schema and len(schema["allOf"]) == 1:
                schema = schema["allOf"][0]
            else:
                break
        return (schema if isinstance(schema, dict) else {}), name

    def _normalise(self, doc: dict[str, Any], schema: Any) -> tuple[dict[str, Any], str | None, bool]:
        schema, name = self._resolve(doc, schema)
        nullable = bool(schema.get("nullable"))
        for key in ("anyOf", "oneOf"):
            members = schema.get(key)
            if members and any(m.get("type") == "null" for m in members):
                rest = [m for m in members if m.get("type") != "null"]
                nullable = True
                inner = rest[0] if len(rest) == 1 else {**schema, key: rest}
                resolved, inner_name = self._resolve(doc, inner)
                return resolved, inner_name or name, nullable
        return schema, name, nullable

    def _kind(self, schema: dict[str, Any]) -> str:
        if "type" in schema:
            return str(schema["type"])
        if "properties" in schema:
            return "object"
        if "anyOf" in schema or "oneOf" in schema:
            return "union"
        if "enum" in schema or "const" in schema:
            return "string"
        return "any"

    def _member_labels(self, doc: dict[str, Any], schema: dict[str, Any]) -> list[str]:
        members = schema.get("anyOf") or schema.get("oneOf") or []
        labels = []
        for member in members:
            resolved, name, _ = self._normalise(doc, member)
            values = resolved.get("enum") or ([resolved["const"]] if "const" in resolved else None)
            if values is not None:
                labels.extend(f"{self._kind(resolved)}={v}" for v in values)
            else:
                labels.append(name or self._kind(resolved))
        return sorted(labels)

    def _members(self, doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
        """A union's non-enum members by label (the first of each label), to compare pairwise."""
        members: dict[str, Any] = {}
        for member in schema.get("anyOf") or schema.get("oneOf") or []:
            resolved, name, _ = self._normalise(doc, member)
            if "enum" in resolved or "const" in resolved:
                continue
            members.setdefault(name or self._kind(resolved), member)
        return members

    def compare(self, path: str, ours: Any, upstream: Any) -> None:
        o, o_name, _ = self._normalise(self.ours, ours)
        u, u_name, _ = self._normalise(self.upstream, upstream)
        if o_name and u_name:
            if (o_name, u_name) in self._visited:
                return
            self._visited.add((o_name, u_name))
            path = u_name
        o_kind, u_kind = self._kind(o), self._kind(u)
        if o_kind != u_kind:
            self.differences.append(f"{path}: type {o_kind} (upstream {u_kind})")
            return
        if o_kind == "union":
            o_labels = self._member_labels(self.ours, o)
            u_labels = self._member_labels(self.upstream, u)
            if o_labels != u_labels:
                self.differences.append(f"{path}: union members {o_labels} (upstream {u_labels})")
                return
            o_members, u_members = self._members(self.ours, o), self._members(self.upstream, u)
            for label in sorted(set(o_members) & set(u_members)):
                self.compare(f"{path}|{label}", o_members[label], u_members[label])
            return
        o_enum = o.get("enum") or ([o["const"]] if "const" in o else None)
        u_enum = u.get("enum") or ([u["const"]] if "const" in u else None)
        if (o_enum is None) != (u_enum is None) or (o_enum and set(o_enum) != set(u_enum or [])):
            self.differences.append(f"{path}: enum {sorted(o_enum or [])} (upstream {sorted(u_enum or [])})")
        if o_kind == "array":
            self.compare(f"{path}[]", o.get("items", {}), u.get("items", {}))
        if o_kind == "object":
            self._compare_object(path, o, u)

    def _compare_object(self, path: str, o: dict[str, Any], u: dict[str, Any]) -> None:
        o_props, u_props = o.get("properties", {}), u.get("properties", {})
        for name in sorted(set(o_props) - set(u_props)):
            self.differences.append(f"{path}.{name}: only in ours")
        for name in sorted(set(u_props) - set(o_props)):
            self.differences.append(f"{path}.{name}: missing from ours")
        o_required, u_required = set(o.get("required", [])), set(u.get("required", []))
        if o_required != u_required:
            self.differences.append(f"{path}: required {sorted(o_required)} (upstream {sorted(u_required)})")
        if (o.get("additionalProperties") is False) != (u.get("additionalProperties") is False):
            self.differences.append(f"{path}: closed={o.get('additionalProperties') is False} "
                                    f"(upstream {u.get('additionalProperties') is False})")
        for name in sorted(set(o_props) & set(u_props)):
            self.compare(f"{path}.{name}", o_props[name], u_props[name])
