#!/usr/bin/env bash
# Runs examples/authz_server.py against a real server on a fresh database:
# what CI does to prove the example works. Needs PostgreSQL (as the tests
# do), Python 3, and the oauth-apps binary: OAUTH_APPS_BIN, else the
# installed `oauth-apps` (cargo install --path .), else a release build
# (built when missing); it never builds a debug binary of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${OAUTH_APPS_BIN:-$(command -v oauth-apps || echo target/release/oauth-apps)}"
[ -x "$bin" ] || cargo build --release --locked --bin oauth-apps
venv=target/ci-tools/py
if ! "$venv/bin/python" -c 'import grpc, grpc_tools, jwt, cryptography' 2>/dev/null; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    grpcio grpcio-tools PyJWT cryptography
fi
admin="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
db="oauth_apps_example_$$"
port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export DATABASE_URL="${admin%/*}/$db"
export OAUTH_APPS_JWT_SECRET="example-secret-$(date +%s)-0123456789abcdef"
export OAUTH_APPS_ASSERTION_AUDIENCE="https://as.example"
export OAUTH_APPS_LISTEN="127.0.0.1:$port" OAUTH_APPS_ADDR="127.0.0.1:$port"
export OAUTH_APPS_ORG=acme OAUTH_APPS_OWNER=alice RUST_LOG=warn
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$bin" members set --org acme --user alice --role owner >/dev/null
"$bin" serve &
server=$!
"$venv/bin/python" - <<PY
import time, grpc
deadline = time.time() + 30
while True:
    try:
        grpc.channel_ready_future(grpc.insecure_channel("127.0.0.1:$port")).result(timeout=1)
        break
    except grpc.FutureTimeoutError:
        if time.time() > deadline:
            raise SystemExit("the server did not start")
PY
"$venv/bin/python" examples/authz_server.py
