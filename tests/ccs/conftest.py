"""Fixtures for the CCS end-to-end tests: one veth pair in a network namespace per test module (created here,
deleted afterwards even when a test fails) and the process's EXI codec JVM (started once)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from evse.protocols.ccs.netns import VethLink, netns_unavailable_reason


def _ensure_iproute2() -> None:
    """CI runs as root on a plain Debian image: install `ip` when it is missing (idempotent)."""
    if shutil.which("ip") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "iproute2"], capture_output=True, check=False)
        if shutil.which("ip") is None:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=False)
            subprocess.run(["apt-get", "install", "-y", "-qq", "iproute2"], capture_output=True, check=False)


@pytest.fixture(scope="module")
def netns_ok() -> None:
    """Root, iproute2 and Java are there (CI runs as root on Debian with Java); otherwise skip with the reason."""
    _ensure_iproute2()
    reason = netns_unavailable_reason()
    if reason:
        pytest.skip(f"CCS end-to-end tests need a network namespace: {reason}")
    if shutil.which("java") is None:
        pytest.skip("CCS end-to-end tests need Java for the EXI codec: install openjdk-17-jre-headless")


@pytest.fixture(scope="module")
def veth(netns_ok: None) -> Iterator[VethLink]:
    link = VethLink.create(f"ccs{os.getpid() % 100000}")
    try:
        yield link
    finally:
        link.close()
