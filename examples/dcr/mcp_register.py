"""An MCP client registers itself, as the MCP Python SDK (PyPI `mcp`) does it.

The SDK's OAuthClientProvider, on finding no stored client, builds the RFC
7591 request with mcp.client.auth.utils.create_client_registration_request
from the authorization server's metadata and its own OAuthClientMetadata,
reads the answer with handle_registration_response into an
OAuthClientInformationFull, and checks it with check_registration_usable.
This script makes those very calls, against open registration (no token,
OAUTH_APPS_OPEN_REGISTRATION_ORG on the server), for a native public client
with a http://localhost:PORT/callback redirect URI (the server needs
OAUTH_APPS_REDIRECT_ALLOW_LOCALHOST=true). Then it shows that open
registration never grants a privileged scope.

    OAUTH_APPS_URL=http://127.0.0.1:8080 python examples/dcr/mcp_register.py
"""

import asyncio
import json
import os

import httpx2
from mcp.client.auth import OAuthRegistrationError
from mcp.client.auth.oauth2 import check_registration_usable
from mcp.client.auth.utils import (
    create_client_registration_request,
    get_client_metadata_scopes,
    handle_registration_response,
)
from mcp.shared.auth import (
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthMetadata,
    ProtectedResourceMetadata,
)

BASE = os.environ.get("OAUTH_APPS_URL", "http://127.0.0.1:8080")
SECRETS = ("client_secret", "registration_access_token")  # not printed whole
CALLBACK_PORT = 33418  # where the MCP client would listen for the redirect

# The authorization server's RFC 8414 metadata, as the SDK would have
# discovered it: the AS in front of this registry publishes oauth-apps'
# /oauth2/register as its registration_endpoint.
AS_METADATA = OAuthMetadata(
    issuer=BASE,
    authorization_endpoint=f"{BASE}/authorize",
    token_endpoint=f"{BASE}/token",
    registration_endpoint=f"{BASE}/oauth2/register",
)
# The MCP server's RFC 9728 metadata: the scope the client registers for is
# its scopes_supported (when the 401's WWW-Authenticate names none). The
# service refuses a registration without a scope, so a deployment must
# publish one here (or in the challenge, or the AS's scopes_supported).
RESOURCE_METADATA = ProtectedResourceMetadata(
    resource="https://mcp.example/mcp",
    authorization_servers=[BASE],
    scopes_supported=["read:user"],
)
GRANT_TYPES = ["authorization_code", "refresh_token"]


async def register(client: httpx2.AsyncClient, metadata: OAuthClientMetadata) -> OAuthClientInformationFull:
    request = create_client_registration_request(AS_METADATA, metadata, BASE)
    print("request:", request.method, request.url)
    print(json.dumps(json.loads(request.content), indent=2))
    response = await client.send(request)
    await response.aread()
    print("response:", response.status_code)
    shown = {k: (v[:6] + "..." if k in SECRETS else v) for k, v in response.json().items()}
    print(json.dumps(shown, indent=2))
    info = await handle_registration_response(response)
    check_registration_usable(info)
    return info


async def main() -> None:
    # The scope as OAuthClientProvider picks it: challenge, else resource
    # metadata, else the AS's scopes_supported.
    scope = get_client_metadata_scopes(None, RESOURCE_METADATA, AS_METADATA, GRANT_TYPES)
    assert scope == "read:user", scope
    metadata = OAuthClientMetadata(
        client_name="An MCP client",
        application_type="native",
        redirect_uris=[f"http://localhost:{CALLBACK_PORT}/callback"],
        grant_types=GRANT_TYPES,
        response_types=["code"],
        token_endpoint_auth_method="none",
        scope=scope,
    )
    async with httpx2.AsyncClient(timeout=10) as client:
        info = await register(client, metadata)
        assert isinstance(info, OAuthClientInformationFull)
        assert info.client_secret is None and info.client_secret_expires_at is None, info
        assert info.token_endpoint_auth_method == "none", info
        assert info.application_type == "native", info
        assert info.scope == "read:user", info
        assert info.grant_types == ["authorization_code", "refresh_token"], info
        assert info.response_types == ["code"], info
        assert [str(u) for u in info.redirect_uris or []] == [f"http://localhost:{CALLBACK_PORT}/callback"], info
        assert isinstance(info.client_id_issued_at, int), info
        assert info.validate_redirect_uri(None) == info.redirect_uris[0]
        assert info.validate_scope("read:user") == ["read:user"]
        print(f"MCP client registered (open registration, public native): {info.client_id}")

        # Open registration is never privileged: admin:* is refused, and the
        # SDK reports the RFC 7591 error.
        greedy = metadata.model_copy(update={"scope": "read:user admin:all"})
        try:
            await register(client, greedy)
        except OAuthRegistrationError as e:
            assert "400" in str(e) and "invalid_client_metadata" in str(e), e
            print(f"refused as it should be: {e}")
        else:
            raise SystemExit("open registration granted admin:all")


asyncio.run(main())
