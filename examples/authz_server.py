#!/usr/bin/env python3
"""How an authorization server uses oauth-apps, end to end, from Python.

It registers a SERVICE application that authenticates with private_key_jwt
(an EC P-256 key made here), signs a client assertion as that client would,
has the registry verify it (and refuse its replay), then registers a web
client and asks the registry whether redirect URIs may be used, as an
authorization endpoint must before it redirects anywhere.

    pip install grpcio grpcio-tools PyJWT cryptography
    OAUTH_APPS_ADDR=127.0.0.1:50051 \
    OAUTH_APPS_JWT_SECRET=... \
    OAUTH_APPS_ASSERTION_AUDIENCE=https://as.example \
    OAUTH_APPS_ORG=acme OAUTH_APPS_OWNER=alice \
    python3 examples/authz_server.py

The server must run with the same OAUTH_APPS_JWT_SECRET and
OAUTH_APPS_ASSERTION_AUDIENCE, and OAUTH_APPS_OWNER must be an OWNER of
OAUTH_APPS_ORG (`oauth-apps members set --org acme --user alice --role owner`).
The client code is generated from proto/ at start, into a temporary folder.
"""

import base64
import importlib
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def generate_client():
    """Generates the Python client from proto/ and imports it."""
    out = tempfile.mkdtemp(prefix="oauthapps-py-")
    well_known = Path(protoc.__file__).parent / "_proto"
    status = protoc.main([
        "protoc",
        f"-I{ROOT / 'proto'}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        str(ROOT / "proto/oauthapps/v1/oauth_applications.proto"),
    ])
    if status != 0:
        sys.exit("protoc failed")
    sys.path.insert(0, out)
    pb = importlib.import_module("oauthapps.v1.oauth_applications_pb2")
    rpc = importlib.import_module("oauthapps.v1.oauth_applications_pb2_grpc")
    return pb, rpc


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"set {name}")
    return value


def bearer(secret, sub, scope=None):
    """A token the service accepts (HS256 with its shared secret)."""
    now = int(time.time())
    claims = {"sub": sub, "iat": now, "nbf": now, "exp": now + 600}
    if scope:
        claims["scope"] = scope
    return [("authorization", "Bearer " + jwt.encode(claims, secret, algorithm="HS256"))]


def b64url(n, length):
    return base64.urlsafe_b64encode(n.to_bytes(length, "big")).rstrip(b"=").decode()


def check(what, ok):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        sys.exit(1)


def main():
    pb, rpc = generate_client()
    secret = env("OAUTH_APPS_JWT_SECRET")
    issuer = env("OAUTH_APPS_ASSERTION_AUDIENCE")
    org = env("OAUTH_APPS_ORG")
    owner = bearer(secret, env("OAUTH_APPS_OWNER")) + [("x-organization-id", org)]
    token_endpoint = bearer(secret, "token-endpoint", "oauthapps:verify")
    stub = rpc.OAuthApplicationsStub(grpc.insecure_channel(env("OAUTH_APPS_ADDR")))
    run = uuid.uuid4().hex[:8]

    # 1. A machine client that holds a key instead of a secret.
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    kid = f"example-{run}"
    jwk = {"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
           "x": b64url(numbers.x, 32), "y": b64url(numbers.y, 32)}
    created = stub.CreateApplication(pb.CreateApplicationRequest(
        name=f"Example batch job {run}",
        type=pb.APPLICATION_TYPE_SERVICE,
        scopes=["read:user"],
        token_endpoint_auth_method=pb.TOKEN_ENDPOINT_AUTH_METHOD_PRIVATE_KEY_JWT,
        jwks=json.dumps({"keys": [jwk]}),
    ), metadata=owner)
    client_id = created.application.client_id
    check("a private_key_jwt client gets no secret", created.client_secret == "")
    check("its grants default to client_credentials",
          list(created.application.grant_types) == [pb.GRANT_TYPE_CLIENT_CREDENTIALS])

    # 2. The client signs an assertion (RFC 7523); the token endpoint asks.
    now = int(time.time())
    assertion = jwt.encode(
        {"iss": client_id, "sub": client_id, "aud": issuer, "iat": now,
         "exp": now + 60, "jti": str(uuid.uuid4())},
        key, algorithm="ES256", headers={"kid": kid})

    def verify(a):
        return stub.VerifyClientAssertion(pb.VerifyClientAssertionRequest(
            client_assertion_type=ASSERTION_TYPE, client_assertion=a, client_id=client_id,
        ), metadata=token_endpoint)

    answer = verify(assertion)
    check("the assertion verifies", answer.valid and answer.application.client_id == client_id)
    check("its replay does not", not verify(assertion).valid)
    wrong_audience = jwt.encode(
        {"iss": client_id, "sub": client_id, "aud": [issuer], "exp": now + 60,
         "jti": str(uuid.uuid4())}, key, algorithm="ES256", headers={"kid": kid})
    check("an audience array (even holding the issuer) does not", not verify(wrong_audience).valid)

    # 3. An authorization endpoint checks redirect URIs before redirecting.
    web = stub.CreateApplication(pb.CreateApplicationRequest(
        name=f"Example web app {run}",
        type=pb.APPLICATION_TYPE_WEB,
        redirect_uris=["https://app.example.com/callback"],
        scopes=["read:user"],
    ), metadata=owner).application

    def match(uri):
        return stub.MatchRedirectUri(pb.MatchRedirectUriRequest(
            client_id=web.client_id, redirect_uri=uri), metadata=token_endpoint)

    hit = match("https://app.example.com/callback")
    check("the registered URI matches", hit.matched and hit.redirect_uri == "https://app.example.com/callback")
    check("an empty one means the only registered one",
          match("").redirect_uri == "https://app.example.com/callback")
    for uri in ["https://app.example.com/callback?x=1", "https://APP.example.com/callback",
                "https://app.example.com/callback/", "https://app.example.com/callback#"]:
        check(f"{uri} does not match: show an error, never redirect", not match(uri).matched)
    try:
        stub.MatchRedirectUri(pb.MatchRedirectUriRequest(client_id="nobody", redirect_uri=""),
                              metadata=token_endpoint)
        check("an unknown client is NOT_FOUND", False)
    except grpc.RpcError as e:
        check("an unknown client is NOT_FOUND", e.code() == grpc.StatusCode.NOT_FOUND)
    print("all good")


if __name__ == "__main__":
    main()
