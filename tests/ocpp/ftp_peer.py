"""A minimal FTP server on loopback (USER, PASS, CWD, TYPE, PASV, STOR, QUIT): enough for the diagnostics upload
to talk real FTP (RFC 959) to something in the tests."""

from __future__ import annotations

import asyncio
import contextlib


class FtpPeer:
    def __init__(self, user: str = "evse", password: str = "secret") -> None:
        self.user, self.password = user, password
        self.files: dict[str, bytes] = {}
        self.commands: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def reply(text: str) -> None:
            writer.write((text + "\r\n").encode())
            await writer.drain()

        cwd, logged_in, user = "/", False, ""
        data_server: asyncio.Server | None = None
        data_conn: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None = None
        await reply("220 test ftp")
        try:
            while line := await reader.readline():
                command, _, arg = line.decode().strip().partition(" ")
                command = command.upper()
                self.commands.append(command)
                if command == "USER":
                    user = arg
                    await reply("331 password please")
                elif command == "PASS":
                    logged_in = user == self.user and arg == self.password
                    await reply("230 logged in" if logged_in else "530 login incorrect")
                elif not logged_in:
                    await reply("530 not logged in")
                elif command == "CWD":
                    cwd = arg if arg.startswith("/") else cwd.rstrip("/") + "/" + arg
                    await reply("250 ok")
                elif command == "TYPE":
                    await reply("200 ok")
                elif command == "PASV":
                    data_conn = asyncio.get_running_loop().create_future()

                    async def accept(r: asyncio.StreamReader, w: asyncio.StreamWriter, f=data_conn) -> None:
                        if not f.done():
                            f.set_result((r, w))

                    data_server = await asyncio.start_server(accept, "127.0.0.1", 0)
                    port = data_server.sockets[0].getsockname()[1]
                    await reply(f"227 Entering Passive Mode (127,0,0,1,{port >> 8},{port & 0xFF})")
                elif command == "STOR" and data_conn is not None:
                    await reply("150 send it")
                    data_reader, data_writer = await data_conn
                    self.files[cwd.rstrip("/") + "/" + arg] = await data_reader.read()
                    data_writer.close()
                    if data_server is not None:
                        data_server.close()
                    await reply("226 stored")
                elif command == "QUIT":
                    await reply("221 bye")
                    break
                else:
                    await reply("502 not implemented")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
