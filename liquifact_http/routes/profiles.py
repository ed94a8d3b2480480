"""``/v1/sme/profile``: the calling SME's own profile (display name and country)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from liquifact_core.profiles import ProfileUpdate
from liquifact_http import representations as rep
from liquifact_http.callers import caller_of
from liquifact_http.routes.common import blocking, body, json_response, resource, services

PROFILE_PATH = "/v1/sme/profile"


async def get_profile(request: Request) -> Response:
    caller = caller_of(request)
    found = await blocking(services(request).profiles.get, caller.tenant_id, caller.actor)
    return json_response(rep.profile(found))


async def put_profile(request: Request) -> Response:
    caller = caller_of(request)
    update = await body(request, ProfileUpdate)
    saved = await blocking(services(request).profiles.put, caller.tenant_id, caller.actor, update)
    return json_response(rep.profile(saved.profile), 201 if saved.created else 200)


routes = [resource(PROFILE_PATH, GET=get_profile, PUT=put_profile)]
