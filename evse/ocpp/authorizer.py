"""The OCPP client as the station's `Authorizer` (OCPP 1.6 §3.5): LocalPreAuthorize, the CSMS's Authorize,
LocalAuthorizeOffline and AllowOfflineTxForUnknownId, and reservations that hold a connector for one id tag."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from evse.clock import wall_time
from evse.ocpp.authorization import effective_status
from evse.station.control import Authorization, AuthorizationStatus

if TYPE_CHECKING:
    from evse.ocpp.client import OcppClient

log = logging.getLogger("evse.ocpp.authorizer")


class Authorizing:
    """Mixin of OcppClient."""

    def _client(self) -> OcppClient:
        return self  # type: ignore[return-value]

    async def authorize(self, connector_id: int, id_tag: str) -> Authorization:
        c = self._client()
        decision = await self._decide(connector_id, id_tag)
        state = c.connectors.get(connector_id)
        if decision.status is AuthorizationStatus.ACCEPTED and state is not None:
            state.id_tag = id_tag
        return decision

    async def _decide(self, connector_id: int, id_tag: str) -> Authorization:
        c = self._client()
        reserved_for = c.reserved_for(connector_id)
        if reserved_for is not None and id_tag not in reserved_for:
            return Authorization(AuthorizationStatus.INVALID, id_tag, source="reservation")
        local = c.auth.local_info(id_tag)
        now = wall_time()
        if local is not None:
            info, source = local
            status = effective_status(info, now)
            if c.online and c.keys.get_bool("LocalPreAuthorize") and status == "Accepted":
                return Authorization(AuthorizationStatus.ACCEPTED, id_tag, info.get("parentIdTag"), source)
        if c.online and c.cp is not None:
            try:
                response = await c.cp.call_raw("Authorize", {"idTag": id_tag})
            except Exception as exc:
                log.warning("Authorize failed (%s); deciding offline", exc)
            else:
                info = response["idTagInfo"]
                c.auth.remember(id_tag, info)
                status = effective_status(info, now)
                return Authorization(AuthorizationStatus(status), id_tag, info.get("parentIdTag"), "csms")
        if local is not None and c.keys.get_bool("LocalAuthorizeOffline"):
            info, source = local
            return Authorization(
                AuthorizationStatus(effective_status(info, now)), id_tag, info.get("parentIdTag"), source
            )
        if local is None and c.keys.get_bool("AllowOfflineTxForUnknownId"):
            return Authorization(AuthorizationStatus.ACCEPTED, id_tag, source="offline_unknown")
        return Authorization(AuthorizationStatus.INVALID, id_tag, source="offline")
