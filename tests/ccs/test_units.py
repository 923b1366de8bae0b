"""CCS pieces that need no network namespace: test voltage, JVM lifecycle and its error, SECC configuration."""

from __future__ import annotations

import threading

import pytest

from evse.protocols.ccs import jvm
from evse.protocols.ccs.cable_check import insulation_test_voltage_v
from evse.protocols.ccs.secc import secc_config
from evse.protocols.ccs.settings import CcsSettings


@pytest.mark.parametrize(
    ("vehicle_max_v", "charger_max_v", "expected_v"),
    [
        (410.0, 920.0, 460.0),  # ≤ 500 V: max + 50
        (480.0, 920.0, 500.0),  # ... capped at 500 V
        (410.0, 450.0, 450.0),  # ... and at the charger's maximum
        (815.0, 920.0, 896.5),  # > 500 V: 1.1 × max
        (900.0, 920.0, 920.0),  # ... capped at the charger's maximum
        (None, 920.0, 500.0),  # unknown: 500 V
        (None, 400.0, 400.0),
    ],
)
def test_insulation_test_voltage_iec_61851_23_2023(
    vehicle_max_v: float | None, charger_max_v: float, expected_v: float
) -> None:
    assert insulation_test_voltage_v(vehicle_max_v, charger_max_v) == pytest.approx(expected_v)


def test_missing_java_is_one_sentence_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(jvm.JavaMissing) as error:
        jvm.check_java()
    text = str(error.value)
    assert "Java" in text and "apt-get install openjdk-17-jre-headless" in text
    assert "\n" not in text
    assert error.value.exit_code == 69  # a UserError: the CLI prints the sentence, no traceback


def test_the_jvm_starts_once_per_process() -> None:
    pytest.importorskip("iso15118")
    from iso15118.shared.exi_codec import EXI

    first = jvm.shared_codec()
    second = jvm.shared_codec()
    assert first is second
    assert EXI().get_exi_codec() is first
    assert jvm.codec_started()


def test_secc_offers_din_and_iso2_with_eim_only() -> None:
    from iso15118.shared.messages.enums import AuthEnum, Protocol

    config = secc_config(CcsSettings(), "veth0")
    assert config.supported_protocols == [Protocol.ISO_15118_2, Protocol.DIN_SPEC_70121]
    assert config.supported_auth_options == [AuthEnum.EIM]
    with pytest.raises(ValueError, match="ISO_15118_20_DC"):
        secc_config(CcsSettings(protocols=["ISO_15118_20_DC"]), "veth0")


async def test_bridge_status_follows_the_supervisor_and_the_insulation_test() -> None:
    from iso15118.shared.messages.datatypes import DCEVSEStatusCode, EVSENotification
    from iso15118.shared.messages.enums import IsolationLevel

    from evse.protocols.ccs.bridge import SeccBridge
    from evse.protocols.ccs.link import InsulationState, V2gLink
    from tests.ccs.fakes import FakeBattery, FakeContext, FakePlant

    bridge = SeccBridge(CcsSettings())
    ctx = FakeContext(FakePlant(FakeBattery(2.0, 50.0, 320, 400, 100)))
    link = V2gLink(ctx)
    bridge.bind(link)
    status = await bridge.get_dc_evse_status()
    assert (status.evse_status_code, status.evse_isolation_status) == (
        DCEVSEStatusCode.EVSE_READY,
        IsolationLevel.INVALID,
    )
    link.insulation = InsulationState.RUNNING
    status = await bridge.get_dc_evse_status()
    assert status.evse_status_code is DCEVSEStatusCode.EVSE_ISOLATION_MONITORING_ACTIVE
    link.insulation = InsulationState.VALID
    link.evse_stopping = True
    status = await bridge.get_dc_evse_status()
    assert status.evse_status_code is DCEVSEStatusCode.EVSE_SHUTDOWN
    assert status.evse_notification is EVSENotification.STOP_CHARGING
    assert status.evse_isolation_status is IsolationLevel.VALID
    ctx.tripped = True
    status = await bridge.get_dc_evse_status()
    assert status.evse_status_code is DCEVSEStatusCode.EVSE_EMERGENCY_SHUTDOWN


class _CountingCodec:
    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.encoded: list[str] = []

    def encode(self, message: str, namespace: str) -> bytes:
        if self.broken:
            raise Exception("EXI encoding failed: no grammar")  # what the package's codec raises
        self.encoded.append(namespace)
        return b"\x80"

    def decode(self, stream: bytes, namespace: str) -> str:
        return "{}"


def test_the_warm_up_covers_every_namespace_and_an_abort_ends_it_after_the_first_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jvm, "_warm_up_aborted", threading.Event())
    codec = _CountingCodec()
    jvm.warm_up(codec, rounds=3)  # type: ignore[arg-type]
    assert codec.encoded == [jvm.SAP_NS, jvm.DIN_NS, jvm.ISO2_NS] * 3
    jvm.abort_warm_up()
    aborted = _CountingCodec()
    jvm.warm_up(aborted, rounds=100)  # type: ignore[arg-type]
    assert aborted.encoded == [jvm.SAP_NS, jvm.DIN_NS, jvm.ISO2_NS]  # the contexts are still built


def test_a_codec_that_cannot_encode_is_one_sentence() -> None:
    with pytest.raises(jvm.ExiCodecBroken) as error:
        jvm.warm_up(_CountingCodec(broken=True), rounds=1)  # type: ignore[arg-type]
    text = str(error.value)
    assert "no grammar" in text and "pip install --force-reinstall 'evse[ccs]'" in text and "\n" not in text
