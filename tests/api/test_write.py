"""Write requests: refused without the token, validated with clear 400s, carried out on the station and the
simulator with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from evse.api.service import ApiService
from evse.api.settings import ApiSettings
from evse.session.events import EventBus
from tests.api.conftest import FakeConfig, FakeStation, Running


async def post(
    r: Running, path: str, body: Any = None, status: int = 200, headers: dict[str, str] | None = None, raw: str = ""
) -> Any:
    kwargs: dict[str, Any] = {"data": raw} if raw else {"json": body} if body is not None else {}
    async with r.http.post(r.url + path, headers=headers if headers is not None else r.auth, **kwargs) as resp:
        text = await resp.text()
        assert resp.status == status, text
        return await resp.json()


async def test_mutation_without_or_with_a_wrong_token_is_refused(running: Running) -> None:
    reply = await post(running, "/api/connectors/1/stop", {}, 401, headers={})
    assert reply["error"] == "this request needs the API token: send 'Authorization: Bearer <token>'"
    reply = await post(running, "/api/connectors/1/stop", {}, 401, headers={"Authorization": "Bearer nope"})
    assert "token is wrong" in reply["error"]
    await post(running, "/api/sim/connectors/1/plug", {"profile": "x"}, 401, headers={"Authorization": "Basic abc"})
    assert running.station.calls == [] and running.sim.calls == []


async def test_connector_commands_reach_the_station(running: Running) -> None:
    auth = await post(running, "/api/connectors/1/authorize", {"id_tag": "CARD-1"})
    assert auth == {"status": "Accepted", "id_tag": "CARD-1", "parent_id_tag": None, "source": "allow_list"}
    assert (await post(running, "/api/connectors/1/start", {"id_tag": "APP-7"})) == {"accepted": True}
    assert (await post(running, "/api/connectors/2/stop")) == {"accepted": True}
    assert (await post(running, "/api/connectors/2/stop", {"reason": "csms_stop"})) == {"accepted": True}
    assert (await post(running, "/api/connectors/2/availability", {"available": False})) == {
        "accepted": True,
        "scheduled": True,
    }
    assert running.station.calls == [
        ("authorize", 1, "CARD-1"),
        ("remote_start", 1, "APP-7"),
        ("stop", 2, "user_stop"),
        ("stop", 2, "csms_stop"),
        ("set_available", 2, False),
    ]


async def test_bad_bodies_get_a_400_naming_the_problem(running: Running) -> None:
    reply = await post(running, "/api/connectors/1/authorize", {}, 400)
    assert reply["error"] == "invalid AuthorizeRequest: Object missing required field `id_tag`"
    reply = await post(running, "/api/connectors/1/authorize", {"id_tag": "X" * 21}, 400)
    assert "length <= 20" in reply["error"] and "$.id_tag" in reply["error"]
    reply = await post(running, "/api/connectors/1/availability", {"available": "yes"}, 400)
    assert "Expected `bool`, got `str` - at `$.available`" in reply["error"]
    reply = await post(running, "/api/connectors/1/stop", {"reason": "because"}, 400)
    assert "$.reason" in reply["error"]
    reply = await post(running, "/api/connectors/1/start", raw="{not json", status=400)
    assert reply["error"] == "the body is not valid JSON"
    reply = await post(running, "/api/connectors/1/start", status=400)
    assert reply["error"] == "this request needs a JSON body (StartRequest): see /api/openapi.json"
    assert (await post(running, "/api/connectors/9/start", {"id_tag": "A"}, 404))["error"].startswith("there is no")
    assert running.station.calls == []


async def test_simulator_commands(running: Running) -> None:
    async with running.http.get(running.url + "/api/sim/profiles") as resp:
        assert (await resp.json())["profiles"] == ["ccs-400v-hatchback", "chademo-0.9-leaf"]
    async with running.http.get(running.url + "/api/sim/faults") as resp:
        assert (await resp.json())["faults"][0]["name"] == "worn_pilot_contact"
    assert await post(running, "/api/sim/connectors/1/plug", {"profile": "ccs-400v-hatchback", "soc_pct": 20})
    reply = await post(running, "/api/sim/connectors/1/plug", {"profile": "ccs-400v-hatchback"}, 409)
    assert reply["error"] == "connector 1 already has a vehicle plugged in; unplug it first"
    assert await post(
        running, "/api/sim/connectors/1/faults", {"name": "worn_pilot_contact", "params": {"offset_v": 1.5}}
    )
    reply = await post(running, "/api/sim/connectors/1/faults", {"name": "gremlins"}, 409)
    assert reply["error"].startswith("unknown fault 'gremlins'")
    async with running.http.delete(
        running.url + "/api/sim/connectors/1/faults/worn_pilot_contact", headers=running.auth
    ) as resp:
        assert (await resp.json()) == {"accepted": True}
    assert await post(running, "/api/sim/connectors/1/unplug")
    assert running.sim.calls == [
        ("plug", 1, "ccs-400v-hatchback", 20.0),
        ("inject", 1, "worn_pilot_contact", {"offset_v": 1.5}),
        ("unplug", 1),
    ]


async def test_writes_disabled_without_token_file_and_sim_absent(tmp_path: Path) -> None:
    service = ApiService(FakeConfig(ApiSettings(port=0)), EventBus(), FakeStation())
    await service.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(service.url + "/api/connectors/1/stop", headers={"Authorization": "Bearer x"}) as resp:
                assert resp.status == 403
                assert (await resp.json())["error"].startswith("write requests are disabled: set api.token_file")
            async with http.get(service.url + "/api/sim/profiles") as resp:
                assert resp.status == 409 and "not simulated" in (await resp.json())["error"]
            async with http.get(service.url + "/api/sessions") as resp:
                assert resp.status == 404 and "no session store" in (await resp.json())["error"]
    finally:
        await service.stop(1.0)
