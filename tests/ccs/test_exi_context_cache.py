"""The EXI codec's JAXB context cache (evse/protocols/ccs/exi_context_cache.py): the shipped jar is what its
source builds, it takes over exactly the message packages whose provider is MOXy, the daemon's codec uses it, and
the codec's output is byte for byte the stock codec's — over every message of a whole DIN SPEC 70121 and
ISO 15118-2 session, and over generated CurrentDemand messages."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evse.protocols.ccs import exi_context_cache as cache
from evse.protocols.ccs import jvm
from evse.protocols.ccs.netns import VethLink

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="the EXI codec needs Java (openjdk-17-jre)")


def _codec_jar() -> str:
    from iso15118.shared.settings import JAR_FILE_PATH

    return str(JAR_FILE_PATH)


def _javap(class_dir: Path, codec_jar: str) -> str:
    out = subprocess.run(
        ["javap", "-c", "-p", "-cp", os.pathsep.join((str(class_dir), codec_jar)), cache.FACTORY_CLASS],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return "\n".join(line for line in out.splitlines() if not line.startswith("Compiled from"))


@pytest.mark.skipif(shutil.which("javac") is None, reason="rebuilding the jar needs a JDK (openjdk-17-jdk-headless)")
def test_the_shipped_jar_is_what_the_source_builds(tmp_path: Path) -> None:
    rebuilt = cache.build(_codec_jar(), tmp_path / "rebuilt.jar")
    with zipfile.ZipFile(cache.JAR) as shipped, zipfile.ZipFile(rebuilt) as fresh:
        assert sorted(shipped.namelist()) == sorted(fresh.namelist())
        class_name = cache.FACTORY_CLASS.replace(".", "/") + ".class"
        for name in shipped.namelist():
            if name != class_name:
                assert shipped.read(name) == fresh.read(name), name
        # the class file compared by its code (another javac may write other constant-pool order or debug data)
        for archive, where in ((shipped, tmp_path / "shipped"), (fresh, tmp_path / "fresh")):
            archive.extract(class_name, where)
    assert _javap(tmp_path / "shipped", _codec_jar()) == _javap(tmp_path / "fresh", _codec_jar())


def test_it_takes_over_exactly_the_packages_whose_provider_is_moxy() -> None:
    packages = cache.moxy_packages(_codec_jar())
    assert "com/siemens/ct/exi/main/messages/iso15118_2" in packages  # the V2G messages of ISO 15118-2
    with zipfile.ZipFile(cache.JAR) as jar:
        taken = sorted(n.rsplit("/", 1)[0] for n in jar.namelist() if n.endswith("/jaxb.properties"))
        assert taken == packages
        for package in packages:
            assert jar.read(f"{package}/jaxb.properties").decode() == f"{cache.PROVIDER_KEY}={cache.FACTORY_CLASS}\n"


def test_a_codec_jar_without_moxy_packages_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "other.jar"
    with zipfile.ZipFile(empty, "w") as jar:
        jar.writestr("com/siemens/ct/exi/main/messages/x/jaxb.properties", "javax.xml.bind.context.factory=other\n")
    with pytest.raises(RuntimeError, match="no message package"):
        cache.build(empty, tmp_path / "out.jar")


def test_the_daemons_codec_uses_the_cache() -> None:
    codec = jvm.shared_codec()
    # warm_up built the contexts of both class sets the codec uses: application protocol + ISO 15118-2, and DIN
    assert jvm.cached_contexts(codec) >= 2


class _Recorder:
    """Wraps the process's codec and keeps every call's input and output."""

    def __init__(self, codec: Any) -> None:
        self.codec = codec
        self.encoded: list[tuple[str, str, bytes]] = []
        self.decoded: list[tuple[bytes, str, str]] = []

    def encode(self, message: str, namespace: str) -> bytes:
        exi = self.codec.encode(message, namespace)
        self.encoded.append((message, namespace, bytes(exi)))
        return exi

    def decode(self, stream: bytes, namespace: str) -> str:
        text = self.codec.decode(stream, namespace)
        self.decoded.append((bytes(stream), namespace, text))
        return text

    def get_version(self) -> str:
        return self.codec.get_version()


@pytest.fixture(scope="module")
def stock_codec() -> Iterator[Any]:
    """The codec exactly as the iso15118 package ships it (no cache), in a JVM of its own."""
    codec = jvm._launch(jvm.LEAN_JAVA_OPTIONS, context_cache=False)
    try:
        yield codec
    finally:
        codec.gateway.shutdown()


@pytest.fixture(scope="module")
def session_traffic(netns_ok: None) -> _Recorder:
    """Every codec call of a whole DIN SPEC 70121 and a whole ISO 15118-2 session (SECC and EVCC sides)."""
    from iso15118.shared.exi_codec import EXI

    from tests.ccs.test_e2e import ccs_session

    recorder = _Recorder(jvm.shared_codec())
    # the SECC and the EVCC take the codec from shared_codec(), the package's messages from EXI()
    jvm._codec = recorder  # type: ignore[assignment]
    EXI().set_exi_codec(recorder)

    async def both() -> None:
        for i, protocol in enumerate(("din", "iso-2")):
            link = VethLink.create(f"cxc{os.getpid() % 1000}x{i}")
            try:
                run = await ccs_session(link, protocol)
                assert run.result.outcome is not None
            finally:
                link.close()

    try:
        asyncio.run(both())
    finally:
        jvm._codec = recorder.codec
        EXI().set_exi_codec(recorder.codec)
    return recorder


@pytest.mark.netns
def test_whole_sessions_encode_and_decode_exactly_as_the_stock_codec(
    session_traffic: _Recorder, stock_codec: Any
) -> None:
    bodies = {
        next(iter(json.loads(m).get("V2G_Message", {}).get("Body", {"SAP": 0}))) for m, _, _ in session_traffic.encoded
    }
    # both sides of both protocols: the handshake, the charge loop and the stop were all in the traffic
    assert {"SessionSetupRes", "CableCheckRes", "PreChargeRes", "CurrentDemandRes", "SessionStopRes"} <= bodies
    assert {"SessionSetupReq", "CurrentDemandReq", "PowerDeliveryReq"} <= bodies
    assert {ns for _, ns, _ in session_traffic.encoded} == {jvm.SAP_NS, jvm.DIN_NS, jvm.ISO2_NS}
    for message, namespace, exi in session_traffic.encoded:
        assert bytes(stock_codec.encode(message, namespace)) == exi, message
    for exi, namespace, text in session_traffic.decoded:
        assert stock_codec.decode(exi, namespace) == text, text


_VALUE = st.fixed_dictionaries(
    {"Multiplier": st.integers(-3, 3), "Unit": st.sampled_from(["V", "A", "W"]), "Value": st.integers(-32768, 32767)}
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    voltage=_VALUE,
    current=_VALUE,
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    status=st.sampled_from(["EVSE_Ready", "EVSE_Shutdown", "EVSE_EmergencyShutdown", "EVSE_IsolationMonitoringActive"]),
    isolation=st.sampled_from(["Invalid", "Valid", "Warning", "Fault"]),
)
def test_generated_current_demand_responses_encode_exactly_as_the_stock_codec(
    stock_codec: Any,
    voltage: dict[str, Any],
    current: dict[str, Any],
    flags: tuple[bool, bool, bool],
    status: str,
    isolation: str,
) -> None:
    body = {
        "ResponseCode": "OK",
        "DC_EVSEStatus": {"EVSEIsolationStatus": isolation, "EVSEStatusCode": status},
        "EVSEPresentVoltage": voltage,
        "EVSEPresentCurrent": current,
        "EVSECurrentLimitAchieved": flags[0],
        "EVSEVoltageLimitAchieved": flags[1],
        "EVSEPowerLimitAchieved": flags[2],
    }
    message = json.dumps(
        {"V2G_Message": {"Header": {"SessionID": "B9C6EE79127AB12C"}, "Body": {"CurrentDemandRes": body}}}
    )
    codec = jvm.shared_codec()
    exi = bytes(codec.encode(message, jvm.DIN_NS))
    assert exi == bytes(stock_codec.encode(message, jvm.DIN_NS))
    assert codec.decode(exi, jvm.DIN_NS) == stock_codec.decode(exi, jvm.DIN_NS)
