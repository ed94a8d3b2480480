"""The OpenAPI 3.0.3 document (filled in by the OpenAPI work)."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def openapi_document() -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "LiquiFact API", "version": "0.1.0"}, "paths": {}}
