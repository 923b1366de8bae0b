"""One CCS connector's long-lived V2G side: its SECC, its bridge, and (in simulation) its veth pair.

The station builds one `CcsPort` per CCS connector (`connector_adapters()` in `adapter.py`, the factory
signature of `evse.station.build`), starts it with the station and asks it for a fresh `CcsAdapter` per session.

* Hardware (`vehicle_link.interface = "homeplug"`): the SECC serves on `vehicle_link.channel`, the PLC modem's
  network interface, and each session runs the SLAC EVSE role on it before SDP.
* Simulation (`"sim"`): the port creates a veth pair with the vehicle end in its own network namespace, serves on
  the charger end, and registers the pair in the sim world's `vehicle_links` so the simulated car's EVCC finds
  it. Without root there is no namespace: `start()` raises `NetnsUnavailable` with the reason and the fix.
"""

from __future__ import annotations

import logging
from typing import Any

from evse.protocols.ccs.adapter import CcsAdapter
from evse.protocols.ccs.bridge import SeccBridge
from evse.protocols.ccs.netns import NetnsUnavailable, VethLink
from evse.protocols.ccs.secc import Secc
from evse.protocols.ccs.settings import CcsSettings
from evse.protocols.ccs.slac.link import run_evse_slac

SIM_LINK = "sim"
logger = logging.getLogger(__name__)


class CcsPort:
    def __init__(
        self, settings: CcsSettings, connector_id: int, *, iface: str | None = None, sim_world: Any = None
    ) -> None:
        self.settings = settings
        self.connector_id = connector_id
        self.iface = iface
        self.sim_world = sim_world
        self.bridge = SeccBridge(settings)
        self.secc: Secc | None = None
        self.veth: VethLink | None = None
        #: why this simulated connector cannot talk V2G (no namespace without root); sessions fail in wake-up
        self.unavailable = ""

    @classmethod
    def from_context(cls, context: Any) -> CcsPort:
        """From `evse.station.build.AdapterContext` (connector settings, whole config, shared objects)."""
        link = context.connector.vehicle_link
        settings: CcsSettings = context.config.ccs
        if link.interface == SIM_LINK:
            return cls(settings, context.connector.id, sim_world=context.shared.get("sim.world"))
        return cls(settings, context.connector.id, iface=link.channel)

    @property
    def simulated(self) -> bool:
        return self.iface is None

    async def start(self) -> None:
        iface = self.iface
        if iface is None:
            try:
                self.veth = VethLink.create(f"evse{self.connector_id}")
            except NetnsUnavailable as exc:
                # the rest of the simulated station still runs; the CCS connector says why it cannot
                self.unavailable = f"CCS connector {self.connector_id} cannot be simulated: {exc}"
                logger.error(self.unavailable)
                return
            iface = self.veth.secc_iface
            if self.sim_world is not None:
                self.sim_world.vehicle_links[self.connector_id] = self.veth
        self.secc = Secc(self.settings, iface, self.bridge)
        await self.secc.start()

    async def stop(self) -> None:
        if self.secc is not None:
            await self.secc.stop()
            self.secc = None
        if self.veth is not None:
            if self.sim_world is not None:
                self.sim_world.vehicle_links.pop(self.connector_id, None)
            self.veth.close()
            self.veth = None

    def new_adapter(self) -> CcsAdapter:
        slac = None
        if not self.simulated and self.iface is not None:
            iface = self.iface

            async def slac_on_modem() -> object:
                return await run_evse_slac(iface)

            slac = slac_on_modem
        return CcsAdapter(self.settings, self.bridge, self.secc, slac=slac, unavailable=self.unavailable)
