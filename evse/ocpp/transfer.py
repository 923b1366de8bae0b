"""File transfers of firmware management and diagnostics: download over HTTP(S) (aiohttp), upload over HTTP(S)
(multipart POST) or FTP (stdlib ftplib in a worker thread — network I/O only, never the vehicle link).

Imported when a transfer starts (`evse.ocpp.maintenance`), not at daemon start: aiohttp's client and ftplib are
memory a charger that never updates its firmware does not need."""

from __future__ import annotations

import asyncio
import ftplib
import io
import urllib.parse
from pathlib import Path

import aiohttp


class TransferError(Exception):
    """A transfer failed; the message says why in a few words (retried by the caller)."""


async def download(url: str, target: Path, timeout_s: float) -> None:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise TransferError(f"unsupported download scheme {scheme!r}")
    try:
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
            if response.status != 200:
                raise TransferError(f"HTTP {response.status}")
            body = await response.read()
            await asyncio.to_thread(target.write_bytes, body)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise TransferError(str(exc) or type(exc).__name__) from None


async def upload(url: str, file_name: str, data: bytes, timeout_s: float) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("http", "https"):
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        form = aiohttp.FormData()
        form.add_field("file", data, filename=file_name, content_type="application/gzip")
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, session.post(url, data=form) as response:
                if response.status >= 300:
                    raise TransferError(f"HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TransferError(str(exc) or type(exc).__name__) from None
    elif parts.scheme == "ftp":
        try:
            await asyncio.wait_for(asyncio.to_thread(_ftp_store, parts, file_name, data, timeout_s), timeout_s)
        except (ftplib.Error, OSError, TimeoutError) as exc:
            raise TransferError(str(exc) or type(exc).__name__) from None
    else:
        raise TransferError(f"unsupported upload scheme {parts.scheme!r}")


def _ftp_store(parts: urllib.parse.SplitResult, file_name: str, data: bytes, timeout_s: float) -> None:
    ftp = ftplib.FTP(timeout=timeout_s)
    try:
        ftp.connect(parts.hostname or "", parts.port or 21)
        ftp.login(urllib.parse.unquote(parts.username or "anonymous"), urllib.parse.unquote(parts.password or ""))
        if parts.path and parts.path != "/":
            ftp.cwd(parts.path)
        ftp.storbinary(f"STOR {file_name}", io.BytesIO(data))
    finally:
        ftp.close()
