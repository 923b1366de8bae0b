"""Firmware management (OCPP 1.6 §5.19 UpdateFirmware, §5.8 GetDiagnostics) and the security whitepaper's
SignedUpdateFirmware (§4.4), GetLog (§4.5) and SecurityEventNotification (§3.x): downloads and uploads over
HTTP(S) or FTP (`evse.ocpp.transfer`) with retries, signatures checked by `evse.ocpp.firmware_signature` (both
imported on first use, not at daemon start), and the status notifications at each step. A firmware file is
installed through the configured command, never while a transaction runs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evse.clock import wall_time
from evse.ocpp.authorization import parse_time
from evse.ocpp.meter import ocpp_time

if TYPE_CHECKING:
    from evse.ocpp.client import OcppClient

log = logging.getLogger("evse.ocpp.maintenance")

#: how often a downloaded firmware checks whether the transactions have ended
INSTALL_POLL_S = 1.0


class Maintenance:
    """Mixin of OcppClient."""

    firmware_status = "Idle"
    diagnostics_status = "Idle"
    log_status = "Idle"
    log_request_id: int | None = None

    def _m(self) -> OcppClient:
        return self  # type: ignore[return-value]

    def _work_dir(self, name: str) -> Path:
        path = self._m().db.path.parent / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def security_event(self, kind: str, tech_info: str = "") -> None:
        """Whitepaper §3.x: security events are queued (delivered after reconnect, like transaction messages)."""

        payload: dict[str, Any] = {"type": kind, "timestamp": ocpp_time()}
        if tech_info:
            payload["techInfo"] = tech_info[:255]
        self._m().queue.push("SecurityEventNotification", payload)

    # -- transfers (evse.ocpp.transfer, imported on first use)
    async def _download(self, url: str, target: Path) -> None:
        from evse.ocpp.transfer import download

        await download(url, target, self._m().settings.upload_timeout_s)

    async def _upload(self, url: str, file_name: str, data: bytes) -> None:
        from evse.ocpp.transfer import upload

        await upload(url, file_name, data, self._m().settings.upload_timeout_s)

    async def _with_retries(self, retries: int | None, interval_s: int | None, work: Any) -> bool:
        from evse.ocpp.transfer import TransferError

        attempts = 1 + max(0, retries or 0)
        for attempt in range(attempts):
            try:
                await work()
                return True
            except TransferError as exc:
                log.warning("transfer attempt %d/%d failed: %s", attempt + 1, attempts, exc)
                if attempt + 1 < attempts:
                    await asyncio.sleep(interval_s or 0)
        return False

    # -- firmware
    def _firmware_status(self, status: str, request_id: int | None) -> None:
        c = self._m()
        self.firmware_status = status
        if request_id is None:
            c.send("FirmwareStatusNotification", {"status": status})
        else:
            c.send("SignedFirmwareStatusNotification", {"status": status, "requestId": request_id})

    async def _wait_until(self, when_text: str | None) -> None:
        when = parse_time(when_text) if when_text else None
        if when is not None:
            delay_s = (when - wall_time()).total_seconds()
            if delay_s > 0:
                await asyncio.sleep(delay_s)

    async def update_firmware(
        self,
        location: str,
        retrieve_date: str,
        retries: int | None,
        retry_interval: int | None,
        request_id: int | None = None,
        verify: Any = None,
    ) -> None:
        c = self._m()
        await asyncio.sleep(0)  # after the answer
        await self._wait_until(retrieve_date)
        name = Path(urllib.parse.urlsplit(location).path).name or "firmware.bin"
        target = self._work_dir("firmware") / name
        self._firmware_status("Downloading", request_id)
        if not await self._with_retries(retries, retry_interval, lambda: self._download(location, target)):
            self._firmware_status("DownloadFailed", request_id)
            return
        self._firmware_status("Downloaded", request_id)
        if verify is not None:
            if not verify(target.read_bytes()):
                self._firmware_status("InvalidSignature", request_id)
                self.security_event("InvalidFirmwareSignature", name)
                return
            self._firmware_status("SignatureVerified", request_id)
        while any(s.tx_local is not None for s in c.connectors.values()):  # noqa: ASYNC110 (rare, slow poll)
            await asyncio.sleep(INSTALL_POLL_S)  # §5.19: not during a transaction
        self._firmware_status("Installing", request_id)
        ok = await self._install(target)
        self._firmware_status("Installed" if ok else "InstallationFailed", request_id)
        if ok:
            self.security_event("FirmwareUpdated", name)
        if ok and c.on_reboot is not None:
            await c.on_reboot("Hard")

    async def _install(self, path: Path) -> bool:
        command = self._m().settings.firmware_install_command
        if not command:
            log.warning("no ocpp.firmware_install_command configured: cannot install %s", path.name)
            return False
        process = await asyncio.create_subprocess_exec(*command.split(), str(path))
        return await process.wait() == 0

    def accept_signed_update(
        self, request_id: int, firmware: dict[str, Any], retries: int | None, retry_interval: int | None
    ) -> str:
        from evse.ocpp.firmware_signature import SignedFirmware

        c = self._m()
        try:
            signed = SignedFirmware(firmware, Path(c.settings.firmware_certificate_file))
        except (ValueError, KeyError, OSError) as exc:
            self.security_event("InvalidFirmwareSigningCertificate", str(exc))
            return "InvalidCertificate"

        c.spawn(
            self.update_firmware(
                firmware["location"], firmware["retrieveDateTime"], retries, retry_interval, request_id, signed.verify
            )
        )
        return "Accepted"

    # -- diagnostics and logs
    def _bundle(self) -> bytes:
        import tarfile  # on the rare diagnostics request only

        c = self._m()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            summary = {
                "chargePointId": c.settings.charge_point_id,
                "queued": len(c.queue),
                "configuration": c.keys.report(None)[0],
                "connectors": {str(k): s.status for k, s in c.connectors.items()},
            }
            data = json.dumps(summary, indent=1).encode()
            info = tarfile.TarInfo("ocpp-state.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            for path_text in c.settings.diagnostics_paths:
                path = Path(path_text)
                if path.exists():
                    tar.add(str(path), arcname=path.name)
        return buffer.getvalue()

    def _file_name(self, kind: str) -> str:
        stamp = wall_time().strftime("%Y%m%dT%H%M%SZ")
        return f"{kind}-{self._m().settings.charge_point_id}-{stamp}.tar.gz"

    def start_diagnostics(self, location: str, retries: int | None, retry_interval: int | None) -> str:
        file_name = self._file_name("diagnostics")
        self._m().spawn(self._diagnostics(location, file_name, retries, retry_interval))
        return file_name

    async def _diagnostics(self, location: str, file_name: str, retries: int | None, interval: int | None) -> None:
        c = self._m()
        await asyncio.sleep(0)
        self.diagnostics_status = "Uploading"
        c.send("DiagnosticsStatusNotification", {"status": "Uploading"})
        data = self._bundle()
        ok = await self._with_retries(retries, interval, lambda: self._upload(location, file_name, data))
        self.diagnostics_status = "Uploaded" if ok else "UploadFailed"
        c.send("DiagnosticsStatusNotification", {"status": self.diagnostics_status})

    def start_log_upload(
        self, log_type: str, request_id: int, log_params: dict[str, Any], retries: int | None, interval: int | None
    ) -> tuple[str, str]:
        file_name = self._file_name("security-log" if log_type == "SecurityLog" else "log")
        self.log_request_id = request_id
        self._m().spawn(self._log_upload(log_params["remoteLocation"], file_name, request_id, retries, interval))
        return "Accepted", file_name

    async def _log_upload(
        self, location: str, file_name: str, request_id: int, retries: int | None, interval: int | None
    ) -> None:
        c = self._m()
        await asyncio.sleep(0)
        self.log_status = "Uploading"
        c.send("LogStatusNotification", {"status": "Uploading", "requestId": request_id})
        data = self._bundle()
        ok = await self._with_retries(retries, interval, lambda: self._upload(location, file_name, data))
        self.log_status = "Uploaded" if ok else "UploadFailure"
        c.send("LogStatusNotification", {"status": self.log_status, "requestId": request_id})
