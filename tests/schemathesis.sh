#!/usr/bin/env bash
# Fuzzes the HTTP/JSON routes with schemathesis, from nothing but the
# server's own GET /openapi.json: a fresh database of its own (created here,
# dropped at the end), the server on a free port, an OWNER of organization
# `fuzz` whose token also carries oauthapps:verify (so every route is
# reached), then a bounded run that fails on any 5xx or any response the
# document does not describe. What CI runs after the tests; needs
# PostgreSQL (as the tests do), psql, curl and the oauth-apps binary
# (default target/debug/oauth-apps).
#
#   SCHEMATHESIS   the schemathesis command (default: the CI venv's)
#   ST_MAX_TIME    seconds of fuzzing (default 90)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${OAUTH_APPS_BIN:-target/debug/oauth-apps}"
[ -x "$bin" ] || cargo build --locked --bin oauth-apps
venv=target/ci-tools/py
st="${SCHEMATHESIS:-$venv/bin/schemathesis}"
if [ ! -x "$st" ] && [ -z "${SCHEMATHESIS:-}" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi
admin="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
db="oauth_apps_schemathesis_$$_$(date +%s)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
work="$(mktemp -d)"
export DATABASE_URL="${admin%/*}/$db"
export OAUTH_APPS_JWT_SECRET="schemathesis-$(date +%s%N)-0123456789abcdef"
export OAUTH_APPS_LISTEN="127.0.0.1:$port"
# An issuer identifier, so that VerifyClientAssertion checks assertions
# rather than answering FAILED_PRECONDITION to all of them.
export OAUTH_APPS_ASSERTION_AUDIENCE="https://as.example"
# Rate limits far above the fuzzer's pace: 429 is documented, but a run
# spent on 429s tests nothing behind them.
export OAUTH_APPS_MUTATIONS_PER_MINUTE=1000000 OAUTH_APPS_READS_PER_MINUTE=1000000
export OAUTH_APPS_FAILED_VERIFY_PER_MINUTE=1000000
export RUST_LOG=warn
cleanup() {
  status=$?
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  if [ "$status" != 0 ] && [ -s "$work/server.log" ]; then
    echo "-- the server's log (last 40 lines):"
    tail -40 "$work/server.log"
  fi
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
# A name of our own, created here: a database that already exists is
# someone else's and is never reused (nor dropped: CREATE fails first).
psql "$admin" -qc "CREATE DATABASE $db" >/dev/null
"$bin" members set --org fuzz --user fuzzer --role owner >/dev/null
ST_TOKEN="$("$bin" token --sub fuzzer --scope oauthapps:verify --ttl 1h)"
export ST_TOKEN
"$bin" serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 120); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/openapi.json" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { echo "the server exited"; exit 1; }
  sleep 0.25
done
# Two applications to start from: half of the generated ids and client
# ids are theirs, so that calls get past NOT_FOUND to the logic behind it.
seed() {
  curl -fsS -H "authorization: Bearer $ST_TOKEN" --json "$1" \
    "http://127.0.0.1:$port/v1/organizations/fuzz/applications"
}
apps=()
clients=()
for body in \
  '{"name": "Seeded web", "redirectUris": ["https://app.example/cb"], "scopes": ["read:user"]}' \
  '{"name": "Seeded native", "type": "APPLICATION_TYPE_NATIVE", "redirectUris": ["http://127.0.0.1/cb"], "scopes": ["read:user"]}'; do
  created="$(seed "$body")"
  apps+=("\"$(python3 -c 'import json,sys; print(json.load(sys.stdin)["application"]["id"])' <<<"$created")\"")
  clients+=("\"$(python3 -c 'import json,sys; print(json.load(sys.stdin)["application"]["clientId"])' <<<"$created")\"")
done
join() { local IFS=,; echo "$*"; }
cat >"$work/schemathesis.toml" <<TOML
headers = { Authorization = "Bearer \${ST_TOKEN}" }
# No crash cache in the working tree (nor an example database, below).
cache = { enabled = false }
# Requests go to the seeded organization (a random one is only ever 403).
[parameters]
"path.organization_id" = "fuzz"
"path.id" = { dictionary = "apps", probability = 0.5 }
"path.client_id" = { dictionary = "clients", probability = 0.5 }
"body.clientId" = { dictionary = "clients", probability = 0.5 }
[dictionaries]
apps = { values = [$(join "${apps[@]}")] }
clients = { values = [$(join "${clients[@]}")] }
TOML
# Every check but two, which test promises this API does not make:
# - positive_data_acceptance expects every schema-valid request to succeed,
#   but the service's rules go beyond JSON Schema (the scope catalog,
#   redirect URI rules, cross-field rules, required fields that proto3 cannot
#   mark): a schema-valid request may rightly be 400 with field violations.
# - use_after_free expects a deleted resource to be 404, but deletion is
#   soft (AIP-164): GetApplication returns a deleted app, with deleteTime,
#   so that it can be undeleted.
# Output is not sanitized: it would hide any field named like a secret
# (previousSecretGrace), and the token dies with this run's random key.
# The two :watch operations are left out: a request that passes is a
# stream of Server-Sent Events that never ends (heartbeats keep it alive),
# and every such call would hang until --request-timeout, then count as a
# failure. tests/api/watch_http.rs covers them (events, resumes, refusals,
# the error event that ends a stream); the document's part is checked by
# the unit tests of src/http/openapi.
"$st" --config-file "$work/schemathesis.toml" run \
  "http://127.0.0.1:$port/openapi.json" \
  --exclude-operation-id WatchApplications --exclude-operation-id WatchAllApplications \
  --checks all --exclude-checks positive_data_acceptance,use_after_free \
  --max-time "${ST_MAX_TIME:-90}" --request-timeout 10 --no-color \
  --output-sanitize false --generation-database none
