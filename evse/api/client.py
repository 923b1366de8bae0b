"""A small synchronous client of the local API for the command line (`evse status`, and `evse sim plug …`
commands that drive a running daemon). Standard library only: the CLI must start fast."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from evse.config.errors import UserError

DEFAULT_URL = "http://127.0.0.1:8080"
#: how long the CLI waits for the daemon's answer
TIMEOUT_S = 10.0


def api_url(config: Any | None) -> str:
    """The API's base URL from the configuration's `api` section (or the default)."""
    api = getattr(config, "api", None)
    if api is None:
        return DEFAULT_URL
    host = "127.0.0.1" if api.host in ("0.0.0.0", "::") else api.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{api.port}"


def token_from(config: Any | None) -> str | None:
    path = getattr(getattr(config, "api", None), "token_file", "")
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except OSError as error:
        raise UserError(
            f"api.token_file {path} cannot be read ({error.strerror}): run as a user who may read it"
        ) from None


def call(base_url: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    """One request; returns the decoded JSON. Any failure is a `UserError` with one sentence."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base_url.rstrip("/") + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        try:
            message = json.loads(error.read()).get("error", error.reason)
        except (ValueError, AttributeError):
            message = error.reason
        raise UserError(f"the local API refused {method} {path}: {message}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise UserError(
            f"cannot reach the local API at {base_url} ({reason}): is the daemon running? check api.host and api.port"
        ) from None
