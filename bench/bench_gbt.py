"""GB/T 27930 charger core over python-can's `virtual` bus: response latencies, CCS period error under bus load,
BRM transfer time — each beside a bare python-can echo measured in the same run.

Figures (real time, one process, one event loop; python-can's virtual bus delivers through its reader threads,
like a USB adapter would):
* BRM complete → CRM 0xAA: from the BMS handing its last TP.DT packet to the bus to the BMS receiving CRM 0xAA
  (two bus hops + the charger's reassembly, decode and answer). Baseline: echo round trip (two hops, no work).
* BCL → request: from the charger receiving a BCL to the `Request` reaching the power path (in-loop processing).
  Baseline: decoding one BCL with the codec alone.
* BCL → next CCS carrying it: from the BMS sending a BCL to the first CCS showing the new current (an ideal power
  module follows at once). Bounded by the 50 ms CCS period by design (CCS is cyclic), so no target.
* CCS period error at ~70 % bus load: |arrival − (t0 + n·50 ms)| at the BMS while another ECU floods the bus
  with 8-byte 29-bit frames at 70 % of 250 kbit/s (the virtual bus has no bit timing: the load is CPU and
  delivery work). Also the send-time error: when the core hands each CCS to the channel (our scheduling alone;
  on socketcan that is when the frame enters the kernel queue), and the same on the in-loop bus, where no
  python-can reader thread competes for the GIL (python-can's socketcan path reads with `add_reader`, no thread).
* BRM transfer (49 bytes, one packet per CTS): RTS → EndOfMsgAck at the BMS.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import can

from bench.harness import Result, Stats
from evse.can.channel import CanChannel, CanFrame, InLoopBus
from evse.can.pythoncan import PythonCanChannel
from evse.protocols.gbt import messages as m
from evse.protocols.gbt.actions import Measurements, Output, Request
from evse.protocols.gbt.codec import decode, encode
from evse.protocols.gbt.core import GbtCore
from evse.protocols.gbt.driver import CoreDriver
from evse.protocols.gbt.ids import BMS_ADDRESS, CHARGER_ADDRESS, PGN_TP_CM, PGN_TP_DT, Pgn, frame_id, parse_id
from evse.protocols.gbt.settings import GbtSettings
from evse.protocols.gbt.transport import END_OF_MSG_ACK, Transport
from evse.session.context import ChargerOffer
from evse.session.stages import Stage

OFFER = ChargerOffer(max_voltage_v=750, min_voltage_v=200, max_current_a=250, min_current_a=0, max_power_w=60_000)
#: no receive timeout may end the benchmark's charging phase
PATIENT = GbtSettings(bcl_timeout_s=1e6, bcs_timeout_s=1e6, bsm_timeout_s=1e6, brm_timeout_s=1e6)
BRM = encode(m.Brm(vin="LBENCH00000000001", software_version="0102030405060708"))
BUS_BITRATE = 250_000
#: bits of a 29-bit data frame with 8 bytes incl. typical stuffing
FRAME_BITS = 150
LOAD_SHARE = 0.7
MS = 1000.0
_names = itertools.count()


def _channel(name: str) -> PythonCanChannel:
    return PythonCanChannel(can.Bus(interface="virtual", channel=name, receive_own_messages=False))


def _ms(samples: list[float]) -> Stats:
    return Stats.of([s * MS for s in samples])


async def _echo_rtt(n: int) -> list[float]:
    """Bare python-can: a frame out, echoed back at once by the other end."""
    name = f"bench-gbt-echo-{next(_names)}"
    a, b = _channel(name), _channel(name)
    loop = asyncio.get_running_loop()
    b.set_receiver(lambda f: b.send(CanFrame(0x1801F456, f.data, True)))
    samples: list[float] = []
    try:
        for _ in range(n):
            got: asyncio.Future[float] = loop.create_future()

            def arrived(frame: CanFrame, got: asyncio.Future[float] = got) -> None:
                if not got.done():
                    got.set_result(loop.time())

            a.set_receiver(arrived)
            t0 = loop.time()
            a.send(CanFrame(0x181056F4, bytes(5), True))
            samples.append(await asyncio.wait_for(got, 2.0) - t0)
    finally:
        a.close()
        b.close()
    return samples


async def _brm_exchange(n: int) -> tuple[list[float], list[float]]:
    """(last DT → CRM 0xAA, RTS → EndOfMsgAck) for `n` BRM transfers, one packet per CTS."""
    name = f"bench-gbt-brm-{next(_names)}"
    charger_ch, bms_ch = _channel(name), _channel(name)
    loop = asyncio.get_running_loop()
    answers, transfers = [], []
    try:
        for _ in range(n):
            core = GbtCore(PATIENT)
            core.set_charger_offer(OFFER)
            driver: CoreDriver[Output] = CoreDriver(charger_ch, core)
            driver.start()
            core.stage = Stage.PARAMETER_NEGOTIATION
            driver.submit(core.begin(Stage.PARAMETER_NEGOTIATION, loop.time()))
            sender = Transport(BMS_ADDRESS, CHARGER_ADDRESS)
            marks: dict[str, float] = {}
            done: asyncio.Future[None] = loop.create_future()

            def on_rx(frame: CanFrame, sender: Transport = sender, marks: dict[str, float] = marks, done=done) -> None:
                now = loop.time()
                ident = parse_id(frame.arbitration_id)
                if ident.pgn == Pgn.CRM and frame.data[0] == m.READY and "crm" not in marks:
                    marks["crm"] = now
                if ident.pgn == PGN_TP_CM and frame.data[0] == END_OF_MSG_ACK:
                    marks["ack"] = now
                for out in sender.feed(frame, now).frames:
                    bms_ch.send(out)
                    if out.data[0] == 7 and parse_id(out.arbitration_id).pgn == PGN_TP_DT:
                        marks["last_dt"] = loop.time()
                if {"crm", "ack", "last_dt"} <= set(marks) and not done.done():
                    done.set_result(None)

            bms_ch.set_receiver(on_rx)
            marks["rts"] = loop.time()
            for frame in sender.send(Pgn.BRM, BRM, loop.time(), max_packets_per_cts=1).frames:
                bms_ch.send(frame)
            await asyncio.wait_for(done, 2.0)
            answers.append(marks["crm"] - marks["last_dt"])
            transfers.append(marks["ack"] - marks["rts"])
            driver.stop()
            bms_ch.set_receiver(None)
    finally:
        charger_ch.close()
        bms_ch.close()
    return answers, transfers


class _IdealPlant:
    """The charger's measurements follow the request at once (an ideal power module)."""

    def __init__(self, core: GbtCore) -> None:
        self.core = core
        self.request_times: list[float] = []

    def on_output(self, output: Output) -> None:
        loop = asyncio.get_running_loop()
        for action in output.actions:
            if isinstance(action, Request):
                self.request_times.append(loop.time())
                self.core.observe(Measurements(output_voltage_v=400.0, output_current_a=action.current_a))


def _charging_core(loop: asyncio.AbstractEventLoop) -> GbtCore:
    core = GbtCore(PATIENT)
    core.set_charger_offer(OFFER)
    core.stage = Stage.ENERGY_TRANSFER
    return core


async def _bcl_to_ccs(n: int) -> tuple[list[float], list[float]]:
    name = f"bench-gbt-bcl-{next(_names)}"
    charger_ch, bms_ch = _channel(name), _channel(name)
    loop = asyncio.get_running_loop()
    core = _charging_core(loop)
    plant = _IdealPlant(core)
    rx_times: list[float] = []
    driver: CoreDriver[Output] = CoreDriver(
        charger_ch, core, plant.on_output, on_rx=lambda f: rx_times.append(loop.time())
    )
    driver.start()
    driver.submit(core.begin(Stage.ENERGY_TRANSFER, loop.time()))
    reflect, react = [], []
    try:
        for i in range(n):
            current_a = 10.0 + (i % 200)
            got: asyncio.Future[float] = loop.create_future()

            def on_rx(frame: CanFrame, got: asyncio.Future[float] = got, current_a: float = current_a) -> None:
                if parse_id(frame.arbitration_id).pgn == Pgn.CCS and not got.done():
                    ccs = decode(Pgn.CCS, frame.data)
                    if isinstance(ccs, m.Ccs) and ccs.output_current_a == current_a:
                        got.set_result(loop.time())

            bms_ch.set_receiver(on_rx)
            bcl = m.Bcl(voltage_demand_v=450.0, current_demand_a=current_a)
            requests_before = len(plant.request_times)
            t0 = loop.time()
            bms_ch.send(CanFrame(frame_id(Pgn.BCL, BMS_ADDRESS, CHARGER_ADDRESS), encode(bcl), True))
            reflect.append(await asyncio.wait_for(got, 2.0) - t0)
            if len(plant.request_times) > requests_before:
                react.append(plant.request_times[-1] - rx_times[-1])
            await asyncio.sleep(0.003 * (i % 7))  # spread the BCLs over the CCS period
    finally:
        driver.stop()
        charger_ch.close()
        bms_ch.close()
    return reflect, react


async def _ccs_period_error(
    duration_s: float, in_loop: bool = False, load_share: float = LOAD_SHARE
) -> tuple[list[float], list[float], int]:
    channels: list[CanChannel]
    if in_loop:
        bus = InLoopBus("bench")
        channels = [bus.attach(), bus.attach(), bus.attach()]
    else:
        name = f"bench-gbt-load-{next(_names)}"
        channels = [_channel(name), _channel(name), _channel(name)]
    charger_ch, bms_ch, load_ch = channels
    loop = asyncio.get_running_loop()
    core = _charging_core(loop)
    departures: list[float] = []
    driver: CoreDriver[Output] = CoreDriver(
        charger_ch,
        core,
        on_tx=lambda f: departures.append(loop.time()) if parse_id(f.arbitration_id).pgn == Pgn.CCS else None,
    )
    arrivals: list[float] = []
    bms_ch.set_receiver(lambda f: arrivals.append(loop.time()) if parse_id(f.arbitration_id).pgn == Pgn.CCS else None)
    rate_hz = load_share * BUS_BITRATE / FRAME_BITS
    burst_period_s = 0.005
    per_burst = round(rate_hz * burst_period_s)
    sent = 0

    async def load() -> None:
        nonlocal sent
        other = frame_id(0x1800, 0xB5, 0xF4)  # another ECU talking to the BMS, as in real cars
        start = loop.time()
        for k in itertools.count(1):
            for _ in range(per_burst):
                load_ch.send(CanFrame(other, bytes(8), True))
                sent += 1
            await asyncio.sleep(max(0.0, start + k * burst_period_s - loop.time()))

    load_task = loop.create_task(load()) if per_burst else None
    t0 = loop.time()
    driver.start()
    driver.submit(core.begin(Stage.ENERGY_TRANSFER, t0))
    await asyncio.sleep(duration_s)
    driver.stop()
    if load_task is not None:
        load_task.cancel()
    for ch in (charger_ch, bms_ch, load_ch):
        ch.close()
    period = 0.05

    def grid_errors(times: list[float]) -> list[float]:
        return [abs(t - (t0 + round((t - t0) / period) * period)) for t in times]

    return grid_errors(arrivals), grid_errors(departures), round(sent / duration_s)


def _decode_bcl_baseline(n: int) -> list[float]:
    payload = encode(m.Bcl(voltage_demand_v=450.0, current_demand_a=100.0))
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()  # wall-clock ok: benchmark timing
        decode(Pgn.BCL, payload)
        samples.append(time.perf_counter() - t0)  # wall-clock ok: benchmark timing
    return samples


def run(quick: bool) -> list[Result]:
    n = 30 if quick else 400
    load_s = 1.0 if quick else 20.0

    async def main() -> list[Result]:
        echo = _ms(await _echo_rtt(n))
        answers, transfers = await _brm_exchange(max(5, n // 4))
        reflect, react = await _bcl_to_ccs(n)
        errors, send_errors, load_rate = await _ccs_period_error(load_s)
        _, in_loop_errors, _ = await _ccs_period_error(load_s, in_loop=True)
        _, idle_errors, _ = await _ccs_period_error(load_s, in_loop=True, load_share=0.0)
        il, idle = _ms(in_loop_errors), _ms(idle_errors)
        base = _ms(_decode_bcl_baseline(n))
        a, t, r, re, e, se = _ms(answers), _ms(transfers), _ms(reflect), _ms(react), _ms(errors), _ms(send_errors)
        echo_name = "python-can echo RTT"
        return [
            Result("GB/T BRM complete → CRM 0xAA", "ms", a.median, a.p99, echo.median, echo_name, 2.0, n=a.n),
            Result(
                "GB/T BCL → request to power path",
                "ms",
                re.median,
                re.p99,
                base.median,
                "codec decode of BCL",
                2.0,
                n=re.n,
            ),
            Result(
                "GB/T BCL → next CCS carrying it",
                "ms",
                r.median,
                r.p99,
                echo.median,
                echo_name,
                n=r.n,
                note="bounded by the 50 ms CCS period",
            ),
            Result(
                "GB/T CCS period error at ~70 % load (arrival)",
                "ms",
                e.median,
                e.p99,
                echo.median,
                echo_name,
                3.0,
                n=e.n,
                note=f"at the BMS, via virtual-bus threads; {load_rate} frames/s of load",
            ),
            Result(
                "GB/T CCS send-time error at ~70 % load",
                "ms",
                se.median,
                se.p99,
                echo.median,
                echo_name,
                3.0,
                n=se.n,
                note="when the core hands CCS to the channel",
            ),
            Result(
                "GB/T CCS send-time error at ~70 % load, in-loop bus",
                "ms",
                il.median,
                il.p99,
                echo.median,
                echo_name,
                3.0,
                n=il.n,
                note="same load, no python-can reader threads (as socketcan's add_reader path)",
            ),
            Result(
                "GB/T CCS send-time error, no load, in-loop bus",
                "ms",
                idle.median,
                idle.p99,
                echo.median,
                echo_name,
                3.0,
                n=idle.n,
                note="the machine's own timer noise, same run",
            ),
            Result("GB/T BRM transfer (49 B, 1 packet/CTS)", "ms", t.median, t.p99, echo.median, echo_name, n=t.n),
            Result("python-can virtual echo RTT (baseline)", "ms", echo.median, echo.p99, n=echo.n, note="same run"),
        ]

    return asyncio.run(main())
