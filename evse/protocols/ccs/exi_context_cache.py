"""The JAXB context cache that makes the iso15118 EXI codec ~40× faster, and how its jar is built.

The codec behind `iso15118` (EXIficient with a JSON front end, in the package's EXICodec.jar) builds a new JAXB
context on every encode and decode call — ~15 ms of the ~15.5 ms a call takes, on the event loop of every
connector (py4j calls block). `java/src/org/evse/exi/CachedContextFactory.java` builds each context once and then
hands out the same (immutable, thread-safe) one; the codec's own steps are unchanged and its output is byte for
byte the same (tests/ccs/test_exi_context_cache.py compares it with the stock codec over whole sessions).

It takes effect through JAXB's documented provider lookup: for `JAXBContext.newInstance(classes)`, JAXB reads the
first `jaxb.properties` the class loader finds in the classes' package. Our jar, first on the codec JVM's
classpath, carries one for each message package whose `jaxb.properties` in EXICodec.jar names EclipseLink MOXy,
naming our factory instead, which delegates to MOXy.

The jar is built from the source in this repository and shipped, because a charger's controller usually has a
Java runtime but no compiler: `python -m evse.protocols.ccs.exi_context_cache` rebuilds it (needs `javac`, 17+)
and the test suite checks the shipped jar against a fresh build of the source.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

JAVA_DIR = Path(__file__).resolve().parent / "java"
SOURCE = JAVA_DIR / "src" / "org" / "evse" / "exi" / "CachedContextFactory.java"
JAR = JAVA_DIR / "evse-exi-context-cache.jar"
FACTORY_CLASS = "org.evse.exi.CachedContextFactory"
#: the provider the codec's message packages name (their jaxb.properties in EXICodec.jar); ours delegates to it
MOXY_FACTORY = "org.eclipse.persistence.jaxb.JAXBContextFactory"
PROVIDER_KEY = "javax.xml.bind.context.factory"
MESSAGES_PREFIX = "com/siemens/ct/exi/main/messages/"
#: a fixed timestamp for every jar entry, so that a rebuild of the same source gives the same jar
_ZIP_TIME = (2024, 1, 1, 0, 0, 0)


def classpath(codec_jar: str) -> str:
    """The codec JVM's classpath: the cache first (its jaxb.properties must be found first), then the codec."""
    return os.pathsep.join((str(JAR), codec_jar))


def moxy_packages(codec_jar: str | Path) -> list[str]:
    """The message packages (paths) whose jaxb.properties in the codec's jar names MOXy: the ones we take over."""
    packages = []
    with zipfile.ZipFile(codec_jar) as jar:
        for name in sorted(jar.namelist()):
            if name.startswith(MESSAGES_PREFIX) and name.endswith("/jaxb.properties"):
                if _provider(jar.read(name).decode("utf-8")) == MOXY_FACTORY:
                    packages.append(name.rsplit("/", 1)[0])
    return packages


def _provider(properties: str) -> str | None:
    for line in properties.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == PROVIDER_KEY:
            return value.strip()
    return None


def jaxb_properties() -> bytes:
    return f"{PROVIDER_KEY}={FACTORY_CLASS}\n".encode()


def compile_factory(codec_jar: str | Path, out_dir: Path, javac: str = "javac") -> Path:
    """Compile the factory's source against the codec's jar (Java 17 class files); the class file's path."""
    subprocess.run(
        [javac, "--release", "17", "-nowarn", "-cp", str(codec_jar), "-d", str(out_dir), str(SOURCE)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out_dir / (FACTORY_CLASS.replace(".", "/") + ".class")


def build(codec_jar: str | Path, jar_path: Path = JAR, javac: str = "javac") -> Path:
    """Build the jar: the compiled factory and a jaxb.properties naming it for every MOXy message package."""
    packages = moxy_packages(codec_jar)
    if not packages:
        raise RuntimeError(f"{codec_jar} has no message package whose jaxb.properties names {MOXY_FACTORY}")
    with tempfile.TemporaryDirectory() as tmp:
        class_file = compile_factory(codec_jar, Path(tmp), javac)
        entries = {FACTORY_CLASS.replace(".", "/") + ".class": class_file.read_bytes()}
        entries.update({f"{package}/jaxb.properties": jaxb_properties() for package in packages})
        with zipfile.ZipFile(jar_path, "w", zipfile.ZIP_DEFLATED) as jar:
            jar.writestr(zipfile.ZipInfo("META-INF/MANIFEST.MF", _ZIP_TIME), b"Manifest-Version: 1.0\r\n\r\n")
            for name, data in sorted(entries.items()):
                jar.writestr(zipfile.ZipInfo(name, _ZIP_TIME), data, zipfile.ZIP_DEFLATED)
    return jar_path


def main() -> int:
    from iso15118.shared.settings import JAR_FILE_PATH

    path = build(JAR_FILE_PATH)
    print(f"built {path} ({path.stat().st_size} bytes) against {JAR_FILE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
