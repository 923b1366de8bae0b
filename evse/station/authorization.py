"""Who may charge: free vend, the local allow-list, then a pluggable `Authorizer` (the OCPP client with its cache
and local list, later RFID back ends and Plug & Charge).

The station asks `LocalAuthorizer.authorize()`; the first source that accepts wins, and the answer names its
source (`Authorization.source`) so operators see why a tag was let in.
"""

from __future__ import annotations

from collections.abc import Iterable

from evse.station.control import Authorization, AuthorizationStatus, Authorizer

#: the id tag a free-vend session is recorded with
FREE_VEND_ID_TAG = "FREE"


class LocalAuthorizer:
    """Free vend and the allow-list, in front of an optional remote `Authorizer`."""

    def __init__(self, *, free_vend: bool = False, allow_list: Iterable[str] = (), remote: Authorizer | None = None):
        self.free_vend = free_vend
        self.allow_list = {tag.upper() for tag in allow_list}
        self.remote = remote

    async def authorize(self, connector_id: int, id_tag: str) -> Authorization:
        if self.free_vend:
            return Authorization(AuthorizationStatus.ACCEPTED, id_tag, source="free_vend")
        if id_tag.upper() in self.allow_list:
            return Authorization(AuthorizationStatus.ACCEPTED, id_tag, source="allow_list")
        if self.remote is not None:
            return await self.remote.authorize(connector_id, id_tag)
        return Authorization(AuthorizationStatus.INVALID, id_tag, source="allow_list")
