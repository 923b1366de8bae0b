"""The EXI codec of the `iso15118` package, started once per process.

The package encodes and decodes V2G messages (EXI) with a Java jar (EXIficient) driven through py4j: constructing
`ExificientEXICodec` launches a JVM (~1 s, ~100 MB) and keeps it until the process exits (`die_on_exit`). The
package's `EXI()` is a process-wide singleton that every SECC and EVCC uses, so one codec serves every connector
and every session: `shared_codec()` creates it on first use and returns the same object afterwards.

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
        EXI().set_exi_codec(codec)
        _codec = codec
        return codec


def _launch(java_options: tuple[str, ...]) -> IEXICodec:
    """The package's `ExificientEXICodec`, launched with our JVM options (its constructor hard-codes none)."""
    import logging

    from iso15118.shared.exificient_exi_codec import ExificientEXICodec
    from iso15118.shared.settings import JAR_FILE_PATH
    from py4j.java_gateway import JavaGateway

    logging.getLogger("py4j").setLevel(logging.CRITICAL)
    codec = ExificientEXICodec.__new__(ExificientEXICodec)
    codec.gateway = JavaGateway.launch_gateway(
        classpath=JAR_FILE_PATH,
        die_on_exit=True,
        javaopts=["--add-opens", "java.base/java.lang=ALL-UNNAMED", *java_options],
    )
    codec.exi_codec = codec.gateway.jvm.com.siemens.ct.exi.main.cmd.EXICodec()
    return codec


def codec_started() -> bool:
    return _codec is not None
