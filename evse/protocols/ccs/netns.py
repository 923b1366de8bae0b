"""A veth pair with the vehicle end inside its own network namespace: the simulated CCS cable.

Why: the `iso15118` SECC and EVCC need a real network interface with an IPv6 link-local address (SDP is a UDP
multicast to ff02::1 on that interface; `lo` has no link-local address and does not do multicast). In a vehicle
the EVCC sits behind its own PLC modem; here a veth pair stands for the two modems and the control-pilot wire.

Theory of operation
-------------------
* `VethLink.create()` makes namespace `<prefix>-ns`, a veth pair with the charger end (`secc_iface`) in the
  namespace this process runs in and the vehicle end (`ev_iface`) inside the new namespace. Each end gets a fixed
  link-local address without duplicate address detection, so it is usable at once (DAD would hold it
  "tentative" for ~1 s, and a tentative address makes the iso15118 servers bind to nothing).
* The EVCC runs *in this process*, in the same event loop as the SECC: `inside(ns)` switches the calling thread
  into the vehicle's namespace just long enough to create a socket (a synchronous block — no await inside), then
  switches back. A socket keeps the namespace it was created in, so the EVCC's traffic goes over the veth pair
  while everything else (the SECC, the JVM link, the daemon) stays where it was.
* `close()` deletes the namespace (which deletes the veth pair) and is idempotent; call it in a `finally`.

Creating a namespace needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and the `ip` tool (iproute2).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

#: setns(2) nstype for network namespaces (linux/sched.h)
CLONE_NEWNET = 0x40000000
#: where `ip netns add` bind-mounts named namespaces
NETNS_RUN_DIR = "/run/netns"
#: fixed link-local addresses of the two ends (no DAD: usable at once)
SECC_LINK_LOCAL = "fe80::e5e:1"
EV_LINK_LOCAL = "fe80::e5e:2"


class NetnsUnavailable(RuntimeError):
    """A network namespace cannot be created here (not root, or no `ip` tool)."""


def netns_unavailable_reason() -> str | None:
    """Why a namespace cannot be created on this machine, or None if it can."""
    if os.geteuid() != 0:
        return "creating a network namespace needs root (run as root, or use the documented fallback)"
    if shutil.which("ip") is None:
        return "the `ip` tool is missing: install iproute2 (apt-get install iproute2)"
    return None


def _ip(*args: str) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise NetnsUnavailable(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")
    return result.stdout


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns failed: {os.strerror(err)}")


@contextlib.contextmanager
def inside(namespace: str) -> Iterator[None]:
    """Run the block with this thread in network namespace `namespace`. Keep the block synchronous."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(os.path.join(NETNS_RUN_DIR, namespace), os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


@dataclass
class VethLink:
    namespace: str
    secc_iface: str
    ev_iface: str
    ev_mac: str = ""
    closed: bool = False

    @classmethod
    def create(cls, prefix: str) -> VethLink:
        """Namespace `<prefix>-ns` with the vehicle end; the charger end stays here. `prefix` ≤ 10 chars
        (interface names are limited to 15)."""
        reason = netns_unavailable_reason()
        if reason:
            raise NetnsUnavailable(reason)
        link = cls(namespace=f"{prefix}-ns", secc_iface=f"{prefix}-s", ev_iface=f"{prefix}-e")
        link.close()  # a leftover from a killed run
        link.closed = False
        try:
            _ip("netns", "add", link.namespace)
            _ip("link", "add", link.secc_iface, "type", "veth", "peer", "name", link.ev_iface, "netns", link.namespace)
            _ip("link", "set", link.secc_iface, "addrgenmode", "none")
            _ip("addr", "add", f"{SECC_LINK_LOCAL}/64", "dev", link.secc_iface, "nodad")
            _ip("link", "set", link.secc_iface, "up")
            _ip("-n", link.namespace, "link", "set", "lo", "up")
            _ip("-n", link.namespace, "link", "set", link.ev_iface, "addrgenmode", "none")
            _ip("-n", link.namespace, "addr", "add", f"{EV_LINK_LOCAL}/64", "dev", link.ev_iface, "nodad")
            _ip("-n", link.namespace, "link", "set", link.ev_iface, "up")
            out = _ip("-n", link.namespace, "-o", "link", "show", link.ev_iface)
            link.ev_mac = out.split("link/ether", 1)[1].split()[0]
        except BaseException:
            link.close()
            raise
        return link

    def close(self) -> None:
        """Delete the namespace and the pair (idempotent, never raises)."""
        if self.closed:
            return
        self.closed = True
        subprocess.run(["ip", "link", "del", self.secc_iface], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True, check=False)
