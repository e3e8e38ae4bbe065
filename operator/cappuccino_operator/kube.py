"""A small, synchronous Kubernetes client over the `kubernetes` package's ApiClient, speaking
plain camelCase dicts (what the builders produce).

Children are written with server-side apply under ONE field manager (`cappuccino-operator`):
the applied object is the whole desired state, so a field the operator stops setting (an
Alpaca Secret volume after a switch to the replay broker) is removed, and fields other
managers own (kubectl, HPA, the Job controller's labels) are left alone.

Built once at startup (handlers.startup) and closed at cleanup.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

__all__ = ["Kube", "KubeError", "load_api_client"]

_PATHS = {
    ("v1", "ConfigMap"): "/api/v1/namespaces/{ns}/configmaps",
    ("v1", "Service"): "/api/v1/namespaces/{ns}/services",
    ("v1", "Secret"): "/api/v1/namespaces/{ns}/secrets",
    ("v1", "Pod"): "/api/v1/namespaces/{ns}/pods",
    ("apps/v1", "Deployment"): "/apis/apps/v1/namespaces/{ns}/deployments",
    ("batch/v1", "Job"): "/apis/batch/v1/namespaces/{ns}/jobs",
    ("cappuccino.dev/v1alpha1", "Study"): "/apis/cappuccino.dev/v1alpha1/namespaces/{ns}/studies",
}

MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
FIELD_MANAGER = "cappuccino-operator"


class KubeError(Exception):
    """A non-2xx answer from the API server (status + the server's message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def load_api_client() -> k8s.ApiClient:
    """In-cluster config when running in a pod, else $KUBECONFIG / ~/.kube/config."""
    try:
        k8s_config.load_incluster_config()
    except k8s_config.ConfigException:
        k8s_config.load_kube_config()
    return k8s.ApiClient()


class Kube:
    """Thin dict-in/dict-out wrapper; one instance (and connection pool) per operator."""

    def __init__(self, api: k8s.ApiClient, field_manager: str = FIELD_MANAGER) -> None:
        self.api = api
        self.field_manager = field_manager

    def close(self) -> None:
        self.api.close()

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        _method, url, headers, body, _post = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        resp = self.api.call_api(
            _method, url, header_params=headers, body=body, _request_timeout=30
        )
        data = resp.read()
        if resp.status >= 400:
            try:
                message = json.loads(data).get("message", "")
            except ValueError:
                message = data.decode(errors="replace")[:500] if data else ""
            raise KubeError(resp.status, message)
        return json.loads(data) if data else None

    @staticmethod
    def _collection(api_version: str, kind: str, namespace: str) -> str:
        try:
            return _PATHS[(api_version, kind)].format(ns=namespace)
        except KeyError:
            raise ValueError(
                f"kind {api_version}/{kind} is not one the operator manages."
            ) from None

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return self._call("GET", f"{self._collection(api_version, kind, namespace)}/{name}")
        except KubeError as e:
            if e.status == 404:
                return None
            raise

    def list(
        self, api_version: str, kind: str, namespace: str, selector: dict[str, str]
    ) -> list[dict[str, Any]]:
        """Objects matching every label in `selector`."""
        query = [("labelSelector", ",".join(f"{k}={v}" for k, v in sorted(selector.items())))]
        out = self._call("GET", self._collection(api_version, kind, namespace), query=query)
        return list(out.get("items", []))

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Deletes one object (its dependents are garbage-collected in the background)."""
        try:
            self._call(
                "DELETE",
                f"{self._collection(api_version, kind, namespace)}/{name}",
                query=[("propagationPolicy", "Background")],
            )
        except KubeError as e:
            if e.status != 404:
                raise

    def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        content_type: str = MERGE_PATCH,
    ) -> dict[str, Any]:
        return self._call(
            "PATCH",
            f"{self._collection(api_version, kind, namespace)}/{name}",
            body=patch,
            query=[("fieldManager", self.field_manager)],
            content_type=content_type,
        )

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply of the whole desired object (created when missing). `force`
        takes over fields another manager set (a `kubectl scale` of a trader): the operator
        owns what it builds. Safe to repeat: an unchanged object is a no-op on the server."""
        meta = obj["metadata"]
        path = (
            f"{self._collection(obj['apiVersion'], obj['kind'], meta['namespace'])}/{meta['name']}"
        )
        return self._call(
            "PATCH",
            path,
            body=obj,
            query=[("fieldManager", self.field_manager), ("force", "true")],
            content_type=APPLY_PATCH,
        )

    def ensure(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Creates `obj` unless it exists; never changes an existing one (for content-addressed,
        immutable objects such as frozen manifest ConfigMaps)."""
        meta = obj["metadata"]
        collection = self._collection(obj["apiVersion"], obj["kind"], meta["namespace"])
        try:
            return self._call(
                "POST", collection, body=obj, query=[("fieldManager", self.field_manager)]
            )
        except KubeError as e:
            if e.status != 409:
                raise
        existing = self.get(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        return existing if existing is not None else obj

    def read_secret_key(self, namespace: str, name: str, key: str) -> str | None:
        """The decoded value of one Secret key, or None when the Secret or key is missing.
        Callers must never log or store it."""
        secret = self.get("v1", "Secret", namespace, name)
        if secret is None or key not in (secret.get("data") or {}):
            return None
        return base64.b64decode(secret["data"][key]).decode()
