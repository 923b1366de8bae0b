"""The Local Authorization List (OCPP 1.6 §3.5.3, SendLocalList / GetLocalListVersion) and the authorization
cache (§3.5.2), with the decision rules of LocalPreAuthorize, LocalAuthorizeOffline and AllowOfflineTxForUnknownId.

The list is the CSMS's: only SendLocalList changes it. The cache is ours: every IdTagInfo the CSMS returns
(Authorize, Start/StopTransaction) is remembered while AuthorizationCacheEnabled is true. Expiry dates are
compared with calendar time (`evse.clock.wall_time`): they are calendar dates set by the CSMS.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from evse.ocpp.config_keys import LOCAL_AUTH_LIST_MAX_LENGTH, SEND_LOCAL_LIST_MAX_LENGTH, ConfigurationKeys
from evse.ocpp.db import OcppDatabase

_VERSION_KEY = "local_list_version"


def parse_time(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def effective_status(info: dict[str, Any], now: dt.datetime) -> str:
    """IdTagInfo.status, with an expiry date in the past turning Accepted into Expired."""
    status = str(info.get("status", "Invalid"))
    expiry = info.get("expiryDate")
    if status == "Accepted" and isinstance(expiry, str):
        when = parse_time(expiry)
        if when is not None and when <= now:
            return "Expired"
    return status


class AuthorizationStore:
    def __init__(self, db: OcppDatabase, keys: ConfigurationKeys) -> None:
        self._db = db
        self._keys = keys

    # -- local list
    @property
    def list_version(self) -> int:
        return int(self._db.get_state(_VERSION_KEY, 0))

    def list_lookup(self, id_tag: str) -> dict[str, Any] | None:
        if not self._keys.get_bool("LocalAuthListEnabled"):
            return None
        row = self._db.conn.execute("SELECT info FROM local_list WHERE id_tag = ?", (id_tag,)).fetchone()
        return None if row is None else json.loads(row[0])

    def send_local_list(self, version: int, update_type: str, entries: list[dict[str, Any]]) -> str:
        """SendLocalList (§6.41): Accepted, Failed, NotSupported or VersionMismatch."""
        if not self._keys.get_bool("LocalAuthListEnabled"):
            return "NotSupported"
        if len(entries) > SEND_LOCAL_LIST_MAX_LENGTH:
            return "Failed"
        if update_type == "Differential" and version <= self.list_version:
            return "VersionMismatch"
        with self._db.transaction() as conn:
            if update_type == "Full":
                conn.execute("DELETE FROM local_list")
            for entry in entries:
                id_tag = entry["idTag"]
                info = entry.get("idTagInfo")
                if info is None:
                    conn.execute("DELETE FROM local_list WHERE id_tag = ?", (id_tag,))
                else:
                    conn.execute(
                        "INSERT INTO local_list(id_tag, info) VALUES (?, ?)"
                        " ON CONFLICT(id_tag) DO UPDATE SET info = excluded.info",
                        (id_tag, json.dumps(info)),
                    )
            size = conn.execute("SELECT COUNT(*) FROM local_list").fetchone()[0]
            if size > LOCAL_AUTH_LIST_MAX_LENGTH:
                raise _ListTooLong
            conn.execute(
                "INSERT INTO state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (_VERSION_KEY, json.dumps(version)),
            )
        return "Accepted"

    # -- cache
    def cache_lookup(self, id_tag: str) -> dict[str, Any] | None:
        if not self._keys.get_bool("AuthorizationCacheEnabled"):
            return None
        row = self._db.conn.execute("SELECT info FROM auth_cache WHERE id_tag = ?", (id_tag,)).fetchone()
        return None if row is None else json.loads(row[0])

    def remember(self, id_tag: str, info: dict[str, Any]) -> None:
        if not self._keys.get_bool("AuthorizationCacheEnabled"):
            return
        # §3.5.2: entries in the local list are not cached
        if self.list_lookup(id_tag) is not None:
            return
        self._db.conn.execute(
            "INSERT INTO auth_cache(id_tag, info) VALUES (?, ?) ON CONFLICT(id_tag) DO UPDATE SET info = excluded.info",
            (id_tag, json.dumps(info)),
        )

    def clear_cache(self) -> None:
        self._db.conn.execute("DELETE FROM auth_cache")

    def local_info(self, id_tag: str) -> tuple[dict[str, Any], str] | None:
        """What we know locally: the list first (§3.5.3: it takes precedence), then the cache."""
        info = self.list_lookup(id_tag)
        if info is not None:
            return info, "local_list"
        info = self.cache_lookup(id_tag)
        if info is not None:
            return info, "cache"
        return None


class _ListTooLong(Exception):
    pass


def send_local_list(store: AuthorizationStore, version: int, update_type: str, entries: list[dict[str, Any]]) -> str:
    try:
        return store.send_local_list(version, update_type, entries)
    except _ListTooLong:
        return "Failed"
