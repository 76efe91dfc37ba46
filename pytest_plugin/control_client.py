"""How the fixture reaches the control service: in-process (`MockControl` itself) or over `/__admin`.

Both speak the same plain-data methods, so `HumanloopMock` does not care which it holds.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

import httpx

from mockserver.control.service import ControlError


class ControlClient(Protocol):
    def info(self) -> dict[str, Any]: ...
    def load_spec(self, data: Any, *, replace: bool = False) -> dict[str, list[str]]: ...
    def get_spec(self) -> dict[str, Any]: ...
    def experiment(self, experiment_id: str) -> dict[str, Any]: ...
    def add_rule(self, kind: Any, data: Any) -> dict[str, Any]: ...
    def list_rules(self, kind: Any) -> list[dict[str, Any]]: ...
    def remove_rule(self, kind: Any, rule_id: str) -> None: ...
    def requests(self, filters: Any = None) -> dict[str, Any]: ...
    def clear_requests(self) -> None: ...
    def unused(self) -> list[dict[str, Any]]: ...
    def unexpected(self) -> list[dict[str, Any]]: ...
    def reset(self) -> dict[str, list[str]]: ...


def admin_root(base_url: str) -> str:
    """`http://host:port/v4` -> `http://host:port/__admin` (the admin API sits beside `/v4`)."""
    root = base_url.rstrip("/")
    root = root.removesuffix("/v4")
    return root + "/__admin"


def _as_json(data: Any) -> Any:
    """A spec model as the JSON a config file would hold (keys the caller did not set are left out)."""
    dump = getattr(data, "model_dump", None)
    return dump(mode="json", exclude_unset=True) if dump is not None else data


class RemoteControl:
    """The control service of a running server's tenant (the one of `api_key`), over HTTP."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0) -> None:
        self.admin_url = admin_root(base_url)
        self._http = httpx.Client(base_url=self.admin_url, headers={"X-API-KEY": api_key}, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ControlError(503, [f"cannot reach {self.admin_url}: {error}"]) from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text
            if isinstance(detail, list):
                problems = [str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail]
            else:
                problems = [str(detail)]
            raise ControlError(response.status_code, problems)
        return None if response.status_code == 204 or not response.content else response.json()

    def info(self) -> dict[str, Any]:
        return self._call("GET", "/info")

    def load_spec(self, data: Any, *, replace: bool = False) -> dict[str, list[str]]:
        return self._call("PUT" if replace else "POST", "/spec", json=_as_json(data))

    def get_spec(self) -> dict[str, Any]:
        return self._call("GET", "/spec")

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        return self._call("GET", f"/experiments/{quote(experiment_id, safe='')}")

    def add_rule(self, kind: Any, data: Any) -> dict[str, Any]:
        created = self._call("POST", f"/{kind}s", json=_as_json(data))
        return next(rule for rule in self.list_rules(kind) if rule["id"] == created["id"])

    def list_rules(self, kind: Any) -> list[dict[str, Any]]:
        return self._call("GET", f"/{kind}s")

    def remove_rule(self, kind: Any, rule_id: str) -> None:
        self._call("DELETE", f"/{kind}s/{rule_id}")

    def requests(self, filters: Any = None) -> dict[str, Any]:
        params = {}
        for key, value in (filters or {}).items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, dict):
                import json

                value = json.dumps(value)
            params[key] = str(value)
        return self._call("GET", "/requests", params=params)

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def unused(self) -> list[dict[str, Any]]:
        return self._call("GET", "/unused")

    def unexpected(self) -> list[dict[str, Any]]:
        return self._call("GET", "/unexpected")

    def reset(self) -> dict[str, list[str]]:
        return self._call("POST", "/reset")
