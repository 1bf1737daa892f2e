"""API keys and roles (SPEC §8): every request but ``/healthz`` presents ``X-API-Key``.

Keys are stored hashed (``store.dispatch_sql.SqlApiKeys``); a request's key is looked up
once and remembered for a short while, so authentication costs no database round trip on
the hot path while a revoked key stops working within :data:`KEY_CACHE_S`.
"""

from __future__ import annotations

import threading
import time
from enum import StrEnum

from dispatch_engine.store.dispatch_sql import ApiKey, SqlApiKeys, hash_key

KEY_CACHE_S = 30.0
KEY_CACHE_MAX = 10_000


class Role(StrEnum):
    DISPATCHER = "dispatcher"  # 查勘调度员: incidents, vehicles, surge
    CLAIMS = "claims"  # 理赔专员: claims, payments, complaints
    PLANNER = "planner"  # 服务管理: reads incidents and vehicles
    ADMIN = "admin"  # everything


class Unauthorized(Exception):
    """No key, or a key that is unknown or revoked (401)."""


class Forbidden(Exception):
    """A valid key whose role may not do this (403)."""


class Authenticator:
    """Resolves ``X-API-Key`` values to stored keys, with a short-lived cache."""

    def __init__(self, keys: SqlApiKeys, *, cache_s: float = KEY_CACHE_S) -> None:
        self._keys = keys
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    def caller(self, key: str | None) -> ApiKey:
        """The key's identity.

        Raises
        ------
        Unauthorized
            When ``key`` is missing, unknown or revoked.
        """
        cached = self.cached(key)
        if cached is not None:
            return cached
        assert key is not None  # cached() refused a missing key
        now = time.monotonic()
        found = self._keys.lookup(key)
        if found is None:
            raise Unauthorized("unknown or revoked API key")
        with self._lock:
            if len(self._cache) >= KEY_CACHE_MAX:
                self._cache.clear()
            self._cache[hash_key(key)] = (now + self._cache_s, found)
        return found

    def cached(self, key: str | None) -> ApiKey | None:
        """The key's identity if it was looked up recently, else None (no database call:
        safe to run in the event loop).

        Raises
        ------
        Unauthorized
            When ``key`` is missing.
        """
        if not key:
            raise Unauthorized("send your API key in the X-API-Key header")
        with self._lock:
            cached = self._cache.get(hash_key(key))
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return None


def require_role(caller: ApiKey, allowed: frozenset[Role]) -> ApiKey:
    """``caller`` if its role is allowed (admins always are).

    Raises
    ------
    Forbidden
        Naming the roles that may.
    """
    if caller.role == Role.ADMIN or caller.role in allowed:
        return caller
    names = ", ".join(sorted(allowed | {Role.ADMIN}))
    raise Forbidden(f"role {caller.role} may not do this; allowed: {names}")
