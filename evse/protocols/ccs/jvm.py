"""The EXI codec of the `iso15118` package, started once per process.

The package encodes and decodes V2G messages (EXI) with a Java jar (EXIficient) driven through py4j: constructing
`ExificientEXICodec` launches a JVM (~1 s, ~100 MB) and keeps it until the process exits (`die_on_exit`). The
package's `EXI()` is a process-wide singleton that every SECC and EVCC uses, so one codec serves every connector
and every session: `shared_codec()` creates it on first use and returns the same object afterwards.

The JVM starts with our JAXB context cache first on its classpath (`exi_context_cache`: a codec call takes ~0.4 ms
instead of ~15 ms), and builds the contexts of both protocols at launch (`warm_up`), so the first car's first
messages do not pay for them (~0.5 s).

A missing Java runtime is a user-fixable error: it surfaces as one `JavaMissing` sentence naming the fix instead
of py4j's traceback.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from typing import TYPE_CHECKING

from evse.config.errors import UserError

if TYPE_CHECKING:
    from iso15118.shared.iexi_codec import IEXICodec

#: JVM options for the codec: a small heap and the client compiler. The package's default JVM takes ~1.2 GB
#: RSS on this codec; with these ~140 MB, and a codec call is faster on a loaded 2-core board (bench_ccs).
LEAN_JAVA_OPTIONS = ("-Xmx96m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k")

#: the namespaces of the V2G messages our SECC exchanges (iso15118.shared.messages.enums.Namespace)
SAP_NS = "urn:iso:15118:2:2010:AppProtocol"
DIN_NS = "urn:din:70121:2012:MsgDef"
ISO2_NS = "urn:iso:15118:2:2013:MsgDef"

_lock = threading.Lock()
_codec: IEXICodec | None = None

JAVA_FIX = (
    "the CCS EXI codec needs a Java runtime (17 or newer) on the PATH: install one "
    "(e.g. `apt-get install openjdk-17-jre-headless`) or remove the CCS connectors from the configuration"
)


#: sysexits.h EX_UNAVAILABLE: a required service (here the Java runtime) is missing
EXIT_UNAVAILABLE = 69


class JavaMissing(UserError):
    """No usable Java runtime for the EXI codec (the CLI prints the sentence, no traceback)."""

    exit_code = EXIT_UNAVAILABLE


class ExiCodecBroken(UserError):
    """The EXI codec launched but cannot encode a V2G message."""

    exit_code = EXIT_UNAVAILABLE


class CcsExtraMissing(UserError):
    """The optional `iso15118` package is not installed."""

    exit_code = EXIT_UNAVAILABLE


def check_java(java: str = "java") -> str:
    """The path of the Java runtime, or `JavaMissing` with the fix."""
    path = shutil.which(java)
    if path is None:
        raise JavaMissing(f"Java not found: {JAVA_FIX}")
    return path


def shared_codec() -> IEXICodec:
    """The process's EXI codec (launches the JVM on the first call; later calls return the same codec)."""
    global _codec
    with _lock:
        if _codec is not None:
            return _codec
        check_java()
        try:
            from iso15118.shared.exi_codec import EXI
        except ImportError as exc:
            raise CcsExtraMissing(
                "the `iso15118` package is missing: install the CCS extra with `pip install 'evse[ccs]'`"
            ) from exc
        try:
            codec = _launch(LEAN_JAVA_OPTIONS)
        except (OSError, subprocess.SubprocessError) as exc:
            raise JavaMissing(f"the JVM for the EXI codec did not start ({exc}): {JAVA_FIX}") from exc
        try:
            warm_up(codec)
        except ExiCodecBroken:
            codec.gateway.shutdown()  # type: ignore[attr-defined]
            raise
        EXI().set_exi_codec(codec)
        _codec = codec
        return codec


def _launch(java_options: tuple[str, ...], *, context_cache: bool = True) -> IEXICodec:
    """The package's `ExificientEXICodec`, launched with our JVM options (its constructor hard-codes none) and,
    unless `context_cache` is off (the tests compare against the stock codec), the JAXB context cache."""
    import logging

    from iso15118.shared.exificient_exi_codec import ExificientEXICodec
    from iso15118.shared.settings import JAR_FILE_PATH
    from py4j.java_gateway import JavaGateway

    from evse.protocols.ccs.exi_context_cache import JAR, classpath

    logging.getLogger("py4j").setLevel(logging.CRITICAL)
    if context_cache and not JAR.exists():
        logging.getLogger(__name__).warning(
            "the EXI codec's JAXB context cache (%s) is missing: every codec call builds a JAXB context (~15 ms, "
            "blocking the control loop); reinstall the package",
            JAR,
        )
    codec = ExificientEXICodec.__new__(ExificientEXICodec)
    codec.gateway = JavaGateway.launch_gateway(
        classpath=classpath(JAR_FILE_PATH) if context_cache else JAR_FILE_PATH,
        die_on_exit=True,
        javaopts=["--add-opens", "java.base/java.lang=ALL-UNNAMED", *java_options],
    )
    codec.exi_codec = codec.gateway.jvm.com.siemens.ct.exi.main.cmd.EXICodec()
    return codec


#: one message per protocol namespace our SECC speaks: encoding each builds (and caches) its JAXB context
WARM_UP_MESSAGES = (
    ('{"supportedAppProtocolRes": {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 1}}', SAP_NS),
    ('{"V2G_Message": {"Header": {"SessionID": "00"}, "Body": {"SessionStopRes": {"ResponseCode": "OK"}}}}', DIN_NS),
    ('{"V2G_Message": {"Header": {"SessionID": "00"}, "Body": {"SessionStopRes": {"ResponseCode": "OK"}}}}', ISO2_NS),
)


#: warm-up rounds at launch (~1 s in the worker thread that loads the stack): the JIT compiles the codec's hot paths
#: before the first car, whose first 300 calls otherwise take 3 ms median / 22 ms p99 instead of 0.75 / 3 ms
WARM_UP_ROUNDS = 100


#: set by `abort_warm_up()`: a daemon stopping during the warm-up does not wait for the rest of it
_warm_up_aborted = threading.Event()


def abort_warm_up() -> None:
    """Cut a running warm-up short after its current round (the stack's worker thread is joined at exit)."""
    _warm_up_aborted.set()


def warm_up(codec: IEXICodec, rounds: int = WARM_UP_ROUNDS) -> None:
    """Encode and decode one message per namespace `rounds` times, so that the first car waits neither for the
    JAXB contexts nor for the JIT; raises `ExiCodecBroken` if the codec cannot (a damaged install). The first
    round always runs (it builds the contexts); `abort_warm_up()` ends it after the current round."""
    for round_number in range(rounds):
        if round_number and _warm_up_aborted.is_set():
            return
        for message, namespace in WARM_UP_MESSAGES:
            try:
                codec.decode(codec.encode(message, namespace), namespace)
            except Exception as exc:  # the codec raises bare Exception with its own message
                raise ExiCodecBroken(
                    f"the EXI codec cannot encode a {namespace} message ({exc}): reinstall the CCS extra, "
                    "`pip install --force-reinstall 'evse[ccs]'`"
                ) from exc


def cached_contexts(codec: IEXICodec) -> int:
    """How many JAXB contexts the cache holds (0: the cache is not in use and every codec call takes ~15 ms)."""
    return int(codec.gateway.jvm.org.evse.exi.CachedContextFactory.cachedContexts())  # type: ignore[attr-defined]


def codec_started() -> bool:
    return _codec is not None
