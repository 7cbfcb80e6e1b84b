#!/usr/bin/env bash
# Runs the Go and Node clients of README's "Clients in other languages"
# (examples/go, examples/node) against a real server on a fresh database:
# what CI does to prove them. Each creates an application and prints the
# BadRequest field violations of a refused create, and fails without them.
# Then README's "Following changes" Python client (examples/watch.py, the
# standard library only) follows acme over Server-Sent Events, drops its
# connection once and resumes: each change must arrive once, in order.
#
# Go is built offline from Debian's packages (installed with apt-get when
# root and apt are at hand): the generated code from `buf generate`, the
# committed gen/go/go.mod, examples/go/go.mod, and a copy of the latter that
# points every module at /usr/share/gocode/src. Without Debian's sources but
# with Go, examples/go builds from the module proxy instead. Without Go, the
# Go client is skipped, loudly. Node's packages come from npm into
# target/ci-tools/node-client. OAUTH_APPS_REQUIRE_TOOLS=1 turns each skip
# into a failure.
#
# Needs PostgreSQL (as the tests do), Node and npm, Python 3 (a free port,
# examples/watch.py), curl, and the oauth-apps binary (OAUTH_APPS_BIN,
# default target/debug/oauth-apps).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
bin="${OAUTH_APPS_BIN:-target/debug/oauth-apps}"
[ -x "$bin" ] || cargo build --locked --bin oauth-apps
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
tools="$root/target/ci-tools"
work="$(mktemp -d)"

skip() {
  if [ "${OAUTH_APPS_REQUIRE_TOOLS:-}" = 1 ]; then
    echo "!!! $1, and OAUTH_APPS_REQUIRE_TOOLS=1" >&2
    exit 1
  fi
  echo "!!! $1: SKIPPED"
}

echo "-- tools"
# buf, as .ci/run installs it.
if [ ! -x "$tools/node_modules/.bin/buf" ]; then
  npm install --silent --no-audit --no-fund --prefix "$tools" @bufbuild/buf@1 >/dev/null
fi
export PATH="$tools/node_modules/.bin:$PATH"
# Go, its protoc plugins and the Go modules the generated code and the
# example import, from Debian (about 30 s). golang-github-golang-protobuf-1-5-dev
# is named because apt would otherwise pick 1.3, which predates the protobuf
# API the generated code uses.
go_debs=(golang-go protoc-gen-go protoc-gen-go-grpc golang-google-grpc-dev
  golang-google-protobuf-dev golang-google-genproto-dev golang-github-golang-protobuf-1-5-dev)
debian_go=/usr/share/gocode/src
debian_sources() {  # errdetails, and golang/protobuf 1.4 or later (registry.go)
  [ -d "$debian_go/google.golang.org/genproto/googleapis/rpc/errdetails" ] \
    && [ -f "$debian_go/github.com/golang/protobuf/proto/registry.go" ]
}
if { ! command -v go || ! command -v protoc-gen-go || ! command -v protoc-gen-go-grpc \
  || ! debian_sources; } >/dev/null 2>&1 \
  && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${go_debs[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 \
      && apt-get install -y -qq --no-install-recommends "${go_debs[@]}" >/dev/null 2>&1; } \
    || echo "   (could not install ${go_debs[*]} from Debian)"
fi
# Node: @grpc/grpc-js, and protobufjs with google-proto-files for google.rpc.
node_client="$tools/node-client"
node_debs=(@grpc/grpc-js@1 @grpc/proto-loader@0.8 protobufjs@7 google-proto-files@6)
if ! NODE_PATH="$node_client/node_modules" node -e \
  'for (const m of ["@grpc/grpc-js", "@grpc/proto-loader", "protobufjs", "google-proto-files"]) require(m)' \
  2>/dev/null; then
  npm install --silent --no-audit --no-fund --prefix "$node_client" "${node_debs[@]}" >/dev/null
fi

echo "-- server on a fresh database"
admin="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
db="oauth_apps_clients_$$"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export DATABASE_URL="${admin%/*}/$db"
export OAUTH_APPS_JWT_SECRET="clients-secret-$(date +%s)-0123456789abcdef"
export OAUTH_APPS_LISTEN="127.0.0.1:$port" RUST_LOG=warn
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
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
export OAUTH_APPS_ADDR="127.0.0.1:$port" OAUTH_APPS_ORG=acme
OAUTH_APPS_TOKEN="$("$bin" token --sub alice --ttl 10m)"
export OAUTH_APPS_TOKEN

echo "-- Go (examples/go)"
if ! command -v go >/dev/null 2>&1 || ! command -v protoc-gen-go >/dev/null 2>&1 \
  || ! command -v protoc-gen-go-grpc >/dev/null 2>&1; then
  skip "the Go client (go, protoc-gen-go or protoc-gen-go-grpc missing)"
else
  go version
  # buf.gen.yaml's Go plugins (.ci/run checks the whole file), and the
  # committed go.mod that makes gen/go a module.
  buf generate --output "$work" --template '{"version":"v2","plugins":[
    {"local":"protoc-gen-go","out":"gen/go","opt":"paths=source_relative"},
    {"local":"protoc-gen-go-grpc","out":"gen/go","opt":"paths=source_relative"}]}'
  cp gen/go/go.mod "$work/gen/go/go.mod"
  # examples/go/go.mod, with the generated code where this run put it.
  modfile="$work/example.mod"
  cp examples/go/go.mod "$modfile"
  gomod() { (cd examples/go && go mod edit -modfile="$modfile" "$@"); }
  gomod -replace="github.com/oauth-apps/oauth-apps/gen/go=$work/gen/go"
  export GOFLAGS=-mod=mod GOWORK=off GOTOOLCHAIN=local
  if debian_sources; then
    # Offline: every module Debian ships, from its sources; every other
    # module of the graph (required by some go.mod, none of its packages
    # built) an empty stand-in.
    export GOPROXY=off
    for mod in $(find "$debian_go" -maxdepth 4 -name go.mod); do
      gomod -replace="$(awk '$1 == "module" { print $2; exit }' "$mod")=$(dirname "$mod")"
    done
    built=
    for _ in $(seq 1 40); do
      if out="$(cd examples/go && go build -modfile="$modfile" -o "$work/go-example" . 2>&1)"; then
        built=1
        break
      fi
      missing="$(grep -oE '[^[:space:]]+@[^[:space:]]+: module lookup disabled' <<<"$out" \
        | head -1 | cut -d@ -f1)"
      [ -n "$missing" ] || break
      mkdir -p "$work/stubs/$missing"
      echo "module $missing" >"$work/stubs/$missing/go.mod"
      gomod -replace="$missing=$work/stubs/$missing"
    done
    [ -n "$built" ] || { echo "$out" >&2; exit 1; }
  else
    # Online: the module proxy (GOPROXY as set, default proxy.golang.org).
    (cd examples/go && go build -modfile="$modfile" -o "$work/go-example" .)
  fi
  "$work/go-example"
fi

echo "-- Node (examples/node)"
node --version
NODE_PATH="$node_client/node_modules" node examples/node/create.js

echo "-- Python over Server-Sent Events (examples/watch.py)"
# The standard library only. It follows acme from now on, drops its first
# connection after one event and resumes with Last-Event-ID: the two
# applications created below must each arrive once, in order.
python3 --version
timeout 60 python3 examples/watch.py --url "http://127.0.0.1:$port" --org acme \
  --max-events 2 --drop-after 1 >"$work/watch.out" 2>"$work/watch.err" &
watcher=$!
# Connected first: a stream "from now" has no change made before it.
for _ in $(seq 1 100); do
  grep -q "watch.py: connected" "$work/watch.err" && break
  kill -0 "$watcher" 2>/dev/null || break
  sleep 0.1
done
grep -q "watch.py: connected" "$work/watch.err" || { cat "$work/watch.err" >&2; exit 1; }
created=()
for name in "Watched one" "Watched two"; do
  created+=("$(curl -fsS -H "authorization: Bearer $OAUTH_APPS_TOKEN" \
    --json "{\"name\": \"$name\", \"redirectUris\": [\"https://app.example/cb\"], \"scopes\": [\"read:user\"]}" \
    "http://127.0.0.1:$port/v1/organizations/acme/applications" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["application"]["id"])')")
done
wait "$watcher" || { cat "$work/watch.err" >&2; exit 1; }
cat "$work/watch.err"
python3 - "$work/watch.out" "${created[@]}" <<'PY'
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
got = [(e["type"], e["application"]["id"]) for e in events]
want = [("CHANGE_TYPE_CREATED", app) for app in sys.argv[2:]]
assert got == want, f"{got} != {want}"
print(f"   {len(got)} changes, each once, in order, across a resume")
PY
grep -q "resumed 1 time" "$work/watch.err"
