"""How the fixture reaches the control service: in-process (`MockControl` itself) or over `/__admin`
(`RemoteControl`, made from the table of admin operations, `mockserver.control.operations`).

Both speak the same plain-data methods, so `HumanloopMock` does not care which it holds.
"""

from __future__ import annotations

import json
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from mockserver.control.operations import OPERATIONS, Operation
from mockserver.control.service import ControlError


class ControlClient(Protocol):
    def info(self) -> dict[str, Any]: ...
    def load_spec(self, data: Any, *, replace: bool = False) -> dict[str, list[str]]: ...
    def get_spec(self) -> dict[str, Any]: ...
    def experiments(self) -> list[dict[str, Any]]: ...
    def experiment(self, experiment_id: str) -> dict[str, Any]: ...
    def add_rule(self, kind: Any, data: Any) -> dict[str, Any]: ...
    def list_rules(self, kind: Any) -> list[dict[str, Any]]: ...
    def remove_rule(self, kind: Any, rule_id: str) -> None: ...
    def requests(self, filters: Any = None) -> dict[str, Any]: ...
    def clear_requests(self) -> None: ...
    def unused(self) -> list[dict[str, Any]]: ...
    def unexpected(self) -> list[dict[str, Any]]: ...
    def reset(self) -> dict[str, list[str]]: ...
    def server(self) -> dict[str, Any]: ...
    def violations(self) -> dict[str, Any]: ...
    def load_cassette(self, data: dict[str, Any]) -> dict[str, Any]: ...
    def cassette(self) -> dict[str, Any]: ...
    def unload_cassette(self) -> None: ...


def admin_root(base_url: str) -> str:
    """`http://host:port/v4` -> `http://host:port/__admin` (the admin API sits beside `/v4`)."""
    root = base_url.rstrip("/")
    root = root.removesuffix("/v4")
    return root + "/__admin"


def _as_json(data: Any) -> Any:
    """A spec model as the JSON a config file would hold (keys the caller did not set are left out)."""
    dump = getattr(data, "model_dump", None)
    return dump(mode="json", exclude_unset=True) if dump is not None else data


def _query(filters: Any) -> dict[str, str]:
    """Journal filters as query parameters, as the door reads them back (flags as words, `inputs` as JSON)."""
    params = {}
    for key, value in (_as_json(filters) or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, dict):
            value = json.dumps(value)
        params[key] = str(value)
    return params


def operation_for(call: str, arguments: dict[str, Any]) -> Operation:
    """The table's row for `call` whose fixed arguments are the ones given (`load_spec` with `replace`,
    `add_rule` with its `kind`, ...)."""
    for operation in OPERATIONS:
        if operation.call == call and all(arguments.get(name) == value for name, value in operation.fixed.items()):
            return operation
    raise LookupError(f"no admin operation {call}({arguments})")


class RemoteControl:
    """The control service of a running server's tenant (the one of `api_key`), over HTTP. Each method is
    `MockControl`'s own, reached through its row of the table: the row says the verb, the path, and which
    argument is the path's parameter, the body or the query."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0) -> None:
        self.admin_url = admin_root(base_url)
        self._http = httpx.Client(base_url=self.admin_url, headers={"X-API-KEY": api_key}, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def operate(self, call: str, **arguments: Any) -> Any:
        """`MockControl.<call>(**arguments)` over HTTP; a refusal is the `ControlError` it answered."""
        operation = operation_for(call, arguments)
        path = operation.path.format(**{name: quote(str(arguments[name]), safe="") for name in operation.path_params})
        request: dict[str, Any] = {}
        if operation.body is not None:
            request["json"] = _as_json(arguments[operation.body])
        if operation.query is not None:
            request["params"] = _query(arguments.get(operation.query))
        try:
            response = self._http.request(operation.method, path, **request)
        except httpx.HTTPError as error:
            raise ControlError(503, [f"cannot reach {self.admin_url}: {error}"]) from None
        if response.status_code >= 400:
            raise ControlError(response.status_code, _problems(response))
        return None if response.status_code == 204 or not response.content else response.json()

    def info(self) -> dict[str, Any]:
        return self.operate("info")

    def load_spec(self, data: Any, *, replace: bool = False) -> dict[str, list[str]]:
        return self.operate("load_spec", data=data, replace=replace)

    def get_spec(self) -> dict[str, Any]:
        return self.operate("get_spec")

    def experiments(self) -> list[dict[str, Any]]:
        return self.operate("experiments")

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        return self.operate("experiment", experiment_id=experiment_id)

    def add_rule(self, kind: Any, data: Any) -> dict[str, Any]:
        return self.operate("add_rule", kind=kind, data=data)

    def list_rules(self, kind: Any) -> list[dict[str, Any]]:
        return self.operate("list_rules", kind=kind)

    def remove_rule(self, kind: Any, rule_id: str) -> None:
        self.operate("remove_rule", kind=kind, rule_id=rule_id)

    def requests(self, filters: Any = None) -> dict[str, Any]:
        return self.operate("requests", filters=filters)

    def clear_requests(self) -> None:
        self.operate("clear_requests")

    def unused(self) -> list[dict[str, Any]]:
        return self.operate("unused")

    def unexpected(self) -> list[dict[str, Any]]:
        return self.operate("unexpected")

    def reset(self) -> dict[str, list[str]]:
        return self.operate("reset")

    def server(self) -> dict[str, Any]:
        return self.operate("server")

    def violations(self) -> dict[str, Any]:
        return self.operate("violations")

    def load_cassette(self, data: dict[str, Any]) -> dict[str, Any]:
        return self.operate("load_cassette", data=data)

    def cassette(self) -> dict[str, Any]:
        return self.operate("cassette")

    def unload_cassette(self) -> None:
        self.operate("unload_cassette")


def _problems(response: httpx.Response) -> list[str]:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text
    if isinstance(detail, list):
        return [str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail]
    return [str(detail)]
