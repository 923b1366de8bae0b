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

if TYPE_CHECKING:
    from iso15118.shared.iexi_codec import IEXICodec

_lock = threading.Lock()
_codec: IEXICodec | None = None

JAVA_FIX = (
    "the CCS EXI codec needs a Java runtime (17 or newer) on the PATH: install one "
    "(e.g. `apt-get install openjdk-17-jre-headless`) or remove the CCS connectors from the configuration"
)


class JavaMissing(RuntimeError):
    """No usable Java runtime for the EXI codec."""


class CcsExtraMissing(RuntimeError):
    """The optional `iso15118` package is not installed."""


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
            from iso15118.shared.exificient_exi_codec import ExificientEXICodec
        except ImportError as exc:
            raise CcsExtraMissing(
                "the `iso15118` package is missing: install the CCS extra with `pip install 'evse[ccs]'`"
            ) from exc
        try:
            codec = ExificientEXICodec()
        except (OSError, subprocess.SubprocessError) as exc:
            raise JavaMissing(f"the JVM for the EXI codec did not start ({exc}): {JAVA_FIX}") from exc
        EXI().set_exi_codec(codec)
        _codec = codec
        return codec


def codec_started() -> bool:
    return _codec is not None
