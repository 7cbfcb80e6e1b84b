#!/usr/bin/env bash
# Runs two real clients that register themselves (RFC 7591 / 7592) against a
# real server on a fresh database: what CI does to prove /oauth2/register
# speaks the RFCs as their clients read them.
#
# - examples/dcr/register.mjs: npm `oauth4webapi` (dynamicClientRegistrationRequest
#   and processDynamicClientRegistrationResponse) registers a confidential web
#   client and a public native one with a registration token, then reads and
#   deletes one through RFC 7592 with its registration access token.
# - examples/dcr/mcp_register.py: the MCP Python SDK (PyPI `mcp`) registers as
#   an MCP client does, openly (no token), a native client with a
#   http://localhost:PORT/callback redirect URI, and parses the answer with the
#   SDK's own OAuthClientInformationFull.
#
# The server runs with OAUTH_APPS_REDIRECT_ALLOW_LOCALHOST=true and
# OAUTH_APPS_OPEN_REGISTRATION_ORG=acme. oauth4webapi comes from npm into
# target/ci-tools/dcr-node, mcp from PyPI into a venv at target/ci-tools/dcr-py.
# A client whose runtime or package cannot be had is skipped, loudly;
# OAUTH_APPS_REQUIRE_TOOLS=1 turns each skip into a failure.
#
# Needs PostgreSQL (as the tests do), Python 3 (a free port) and the
# oauth-apps binary (OAUTH_APPS_BIN, default target/debug/oauth-apps).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
bin="${OAUTH_APPS_BIN:-target/debug/oauth-apps}"
[ -x "$bin" ] || cargo build --locked --bin oauth-apps
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
tools="$root/target/ci-tools"

skip() {
  if [ "${OAUTH_APPS_REQUIRE_TOOLS:-}" = 1 ]; then
    echo "!!! $1, and OAUTH_APPS_REQUIRE_TOOLS=1" >&2
    exit 1
  fi
  echo "!!! $1: SKIPPED"
}

echo "-- tools"
# oauth4webapi 3 (ES module, WebCrypto and fetch: Node 20 or later).
node_dir="$tools/dcr-node"
node_ok=
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  skip "the oauth4webapi client (node or npm missing)"
elif [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  skip "the oauth4webapi client (Node $(node --version) is older than 20)"
elif [ -f "$node_dir/node_modules/oauth4webapi/package.json" ] \
  || npm install --silent --no-audit --no-fund --prefix "$node_dir" oauth4webapi@3 >/dev/null; then
  node_ok=1
  echo "   oauth4webapi $(node -p "require('$node_dir/node_modules/oauth4webapi/package.json').version")"
else
  skip "the oauth4webapi client (npm install oauth4webapi@3 failed)"
fi
# The MCP Python SDK 2 (its client-side registration helpers live in
# mcp.client.auth.utils from 2.x on).
venv="$tools/dcr-py"
py_ok=
if "$venv/bin/python" -c 'import mcp.client.auth.utils, mcp.shared.auth' 2>/dev/null; then
  py_ok=1
elif { [ -x "$venv/bin/python" ] || python3 -m venv "$venv"; } \
  && "$venv/bin/pip" install --quiet --disable-pip-version-check 'mcp>=2.3,<3'; then
  py_ok=1
else
  skip "the MCP Python SDK client (pip install 'mcp>=2.3,<3' failed)"
fi
if [ -n "$py_ok" ]; then
  echo "   mcp $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp"))')"
fi

echo "-- server on a fresh database (localhost redirects, open registration into acme)"
admin="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
db="oauth_apps_dcr_$$"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export DATABASE_URL="${admin%/*}/$db"
export OAUTH_APPS_JWT_SECRET="dcr-secret-$(date +%s)-0123456789abcdef"
export OAUTH_APPS_LISTEN="127.0.0.1:$port" RUST_LOG=warn
export OAUTH_APPS_REDIRECT_ALLOW_LOCALHOST=true OAUTH_APPS_OPEN_REGISTRATION_ORG=acme
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$bin" members set --org acme --user alice --role owner >/dev/null
"$bin" serve &
server=$!
for _ in $(seq 1 60); do
  "$bin" health --addr "127.0.0.1:$port" --timeout 1s >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "the server exited" >&2; exit 1; }
  sleep 0.5
done
"$bin" health --addr "127.0.0.1:$port" --timeout 1s >/dev/null
export OAUTH_APPS_URL="http://127.0.0.1:$port"

echo "-- a registration token (CreateRegistrationToken over HTTP, alice OWNER of acme)"
jwt="$("$bin" token --sub alice --ttl 10m)"
OAUTH_APPS_REGISTRATION_TOKEN="$(python3 - "$OAUTH_APPS_URL" "$jwt" <<'PY'
import json, sys, urllib.request
url, jwt = sys.argv[1], sys.argv[2]
req = urllib.request.Request(
    f"{url}/v1/organizations/acme/registrationTokens",
    data=json.dumps({"description": "examples/dcr.sh", "maxRegistrations": 5}).encode(),
    headers={"Authorization": f"Bearer {jwt}", "Content-Type": "application/json"},
    method="POST",
)
with urllib.request.urlopen(req, timeout=10) as r:
    body = json.load(r)
token = body["registrationToken"]
assert token.startswith("oarg_"), body
assert body["token"]["maxRegistrations"] == 5, body
print(token)
PY
)"
export OAUTH_APPS_REGISTRATION_TOKEN
echo "   oarg_… (5 registrations)"

echo "-- oauth4webapi (examples/dcr/register.mjs)"
if [ -n "$node_ok" ]; then
  node --version
  NODE_PATH="$node_dir/node_modules" OAUTH4WEBAPI="$node_dir/node_modules/oauth4webapi/build/index.js" \
    node examples/dcr/register.mjs
else
  echo "   (skipped: see -- tools)"
fi

echo "-- the MCP Python SDK (examples/dcr/mcp_register.py)"
if [ -n "$py_ok" ]; then
  "$venv/bin/python" examples/dcr/mcp_register.py
else
  echo "   (skipped: see -- tools)"
fi
