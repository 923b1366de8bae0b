"""Shared test configuration.

Async tests run under pytest-asyncio. Tests that exercise timing mark themselves `@pytest.mark.looptime` (or
`pytestmark = pytest.mark.looptime` per module) so they run on looptime's virtual clock: protocol timeouts pass
in microseconds of wall time. Tests that talk to real sockets (OCPP, HTTP) run on real time and bound
themselves with short timeouts.
"""
