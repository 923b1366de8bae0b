"""One CCS connector's long-lived V2G side: its SECC, its bridge, and (in simulation) its veth pair.

The station builds one `CcsPort` per CCS connector (`connector_adapters()` in `adapter.py`, the factory
signature of `evse.station.build`), starts it with the station and asks it for a fresh `CcsAdapter` per session.
The V2G stack (the iso15118 SECC and the EXI codec's JVM) is loaded in the background after start, or when the
first CCS car arrives (`ccs.stack_loading`): either way the daemon's start does not wait for it.

* Hardware (`vehicle_link.interface = "homeplug"`): the SECC serves on `vehicle_link.channel`, the PLC modem's
  network interface, and each session runs the SLAC EVSE role on it before SDP.
* Simulation (`"sim"`): the port creates a veth pair with the vehicle end in its own network namespace, serves on
  the charger end, and registers the pair in the sim world's `vehicle_links` so the simulated car's EVCC finds
  it. Without root there is no namespace: `start()` raises `NetnsUnavailable` with the reason and the fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from evse.gcfreeze import freeze_loaded_objects
from evse.protocols.ccs.adapter import CcsAdapter
from evse.protocols.ccs.jvm import abort_warm_up, check_java, shared_codec
from evse.protocols.ccs.netns import NetnsUnavailable, VethLink
from evse.protocols.ccs.settings import CcsSettings
from evse.protocols.ccs.slac.link import run_evse_slac

if TYPE_CHECKING:
    from evse.protocols.ccs.bridge import SeccBridge
    from evse.protocols.ccs.secc import Secc

SIM_LINK = "sim"
logger = logging.getLogger(__name__)


def prepare_stack() -> None:
    """Import the iso15118 SECC and launch the EXI codec's JVM (~0.35 s + ~0.6 s of work): run in a worker thread,
    so the loop keeps serving the other connectors (their supervisors, their vehicles) meanwhile."""
    from evse.logsetup import root_logging_kept

    with root_logging_kept():  # iso15118 configures the root logger (stdout, its format) when it is imported
        import iso15118.shared.logging

        iso15118.shared.logging._init_logger = _leave_logging_alone  # its secc/evcc packages call it again on import
        import evse.protocols.ccs.bridge
        import evse.protocols.ccs.secc  # noqa: F401
    shared_codec()


def _leave_logging_alone() -> None:
    """Stands in for iso15118's logger setup: the daemon's logging (evse.logsetup) is the only one."""


class CcsPort:
    def __init__(
        self, settings: CcsSettings, connector_id: int, *, iface: str | None = None, sim_world: Any = None
    ) -> None:
        self.settings = settings
        self.connector_id = connector_id
        self.iface = iface
        self.sim_world = sim_world
        self.bridge: SeccBridge | None = None
        self.secc: Secc | None = None
        self.veth: VethLink | None = None
        #: why this simulated connector cannot talk V2G (no namespace without root); sessions fail in wake-up
        self.unavailable = ""
        self._serving_iface = ""
        self._stack: asyncio.Task[None] | None = None

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
        check_java()  # a missing Java runtime is one sentence at start, not a surprise at the first car
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
        self._serving_iface = iface
        if self.settings.stack_loading == "start":
            self._load()  # in the background: the daemon is ready (and boots at the CSMS) meanwhile

    def _load(self) -> asyncio.Task[None]:
        if self._stack is None or (self._stack.done() and self._stack.exception() is not None):
            self._stack = asyncio.get_running_loop().create_task(self._load_stack(), name=f"ccs-stack-{self.iface}")
            # a failure is logged by the task and raised again to the session that needs the stack
            self._stack.add_done_callback(lambda task: task.cancelled() or task.exception())
        return self._stack

    async def _load_stack(self) -> None:
        try:
            await asyncio.to_thread(prepare_stack)
        except Exception as exc:
            logger.error("CCS connector %s: the V2G stack did not start: %s", self.connector_id, exc)
            raise
        # the stack's modules and models (~1/2 of the process's objects) live until exit: out of full GC passes,
        # which would otherwise pause every connector for ~20-40 ms now and then; no collection first (sessions
        # may be running)
        freeze_loaded_objects(collect_first=False)
        from evse.protocols.ccs.bridge import SeccBridge
        from evse.protocols.ccs.secc import Secc

        bridge = SeccBridge(self.settings)
        secc = Secc(self.settings, self._serving_iface, bridge)
        await secc.start()
        self.bridge, self.secc = bridge, secc

    async def stack(self) -> tuple[SeccBridge, Secc]:
        """The connector's bridge and serving SECC, loaded now if not yet (a failed load is tried again)."""
        await asyncio.shield(self._load())
        assert self.bridge is not None and self.secc is not None
        return self.bridge, self.secc

    async def stop(self) -> None:
        if self._stack is not None and not self._stack.done():
            abort_warm_up()  # its worker thread cannot be cancelled: let it end after the current codec round
            self._stack.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # nothing is left to serve either way
                await self._stack
        self._stack = None
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
        return CcsAdapter(
            self.settings, self.bridge, self.secc, slac=slac, unavailable=self.unavailable, stack=self.stack
        )
