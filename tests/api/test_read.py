"""The read side of the local API over a real loopback socket: status, sessions, traces, diagnose, config."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Running
from tests.store.fleet import BAD_SIGNATURE


async def get(r: Running, path: str, status: int = 200) -> Any:
    async with r.http.get(r.url + path) as resp:
        assert resp.status == status, await resp.text()
        assert resp.content_type == "application/json"
        return await resp.json()


async def test_status_and_connectors(running: Running) -> None:
    status = await get(running, "/api/status")
    assert status["simulated"] is True and status["store"]["configured"] is True
    [c1, c2] = status["connectors"]
    assert c1["status"] == "Available" and c2["status"] == "Charging"
    assert c2["stage"] == "energy_transfer" and c2["power_w"] == 47_820.0 and c2["limit_source"] == "cable_temperature"
    assert (await get(running, "/api/connectors/2"))["soc_pct"] == 55.0
    assert len(await get(running, "/api/connectors")) == 2


async def test_unknown_connector_and_path_are_clear_4xx(running: Running) -> None:
    assert (await get(running, "/api/connectors/7", 404))["error"] == "there is no connector 7 (connectors: 1, 2)"
    assert "must be an integer" in (await get(running, "/api/connectors/x", 400))["error"]
    assert (await get(running, "/api/nothing", 404))["error"] == "no such endpoint: see /api/openapi.json"


async def test_sessions_list_filters_and_detail(running: Running) -> None:
    rows = await get(running, "/api/sessions?limit=5")
    assert len(rows) == 5 and rows[0]["started_at"] >= rows[-1]["started_at"]
    failed = await get(running, "/api/sessions?failed=true&connector_id=3&limit=100")
    assert failed and all(s["outcome_kind"] == "failed" and s["connector_id"] == 3 for s in failed)
    assert all(s["vehicle_key"] == f"signature:{BAD_SIGNATURE}" for s in failed)
    detail = await get(running, f"/api/sessions/{failed[0]['id']}")
    assert detail["outcome_stage"] == "parameter_negotiation" and detail["stages"] and detail["trace"]
    lean = await get(running, f"/api/sessions/{rows[0]['id']}?samples=false")
    assert "samples" not in lean
    trace = await get(running, f"/api/sessions/{failed[0]['id']}/trace")
    assert trace == detail["trace"] and trace[0]["kind"] == "can"


async def test_session_errors(running: Running) -> None:
    assert (await get(running, "/api/sessions/none", 404))["error"] == "no stored session with id 'none'"
    assert (await get(running, "/api/sessions?limit=0", 400))["error"] == "limit must be between 1 and 500, got 0"
    assert (await get(running, "/api/sessions?failed=maybe", 400))[
        "error"
    ] == "failed must be true or false, got 'maybe'"


async def test_diagnose_report_names_the_planted_causes(running: Running) -> None:
    report = await get(running, "/api/diagnose")
    assert report["sessions"] == 96
    assert {f["rule"] for f in report["findings"]} == {"pilot_drift", "vehicle_incompatible", "insulation_decline"}


async def test_config_is_redacted_and_openapi_served(running: Running) -> None:
    config = await get(running, "/api/config")
    assert config["ocpp"]["password"] == "***"
    spec = await get(running, "/api/openapi.json")
    assert spec["openapi"].startswith("3.1") and "/api/sessions/{session_id}" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
