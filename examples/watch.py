#!/usr/bin/env python3
"""Follows application changes over Server-Sent Events, with nothing but
Python's standard library, and never misses one.

    OAUTH_APPS_URL=http://127.0.0.1:50051 \\
    OAUTH_APPS_TOKEN=$(oauth-apps token --sub alice) \\
      python3 examples/watch.py --org acme

Each event is printed as one line of JSON (a WatchApplicationsResponse) on
stdout. The `id` of the last event is kept: after a dropped connection, a
server restart, or a stream ended with RESOURCE_EXHAUSTED (too slow) or
UNAVAILABLE (the server is stopping), it reconnects with `Last-Event-ID`,
and the server continues right after that event, on any replica. A token
past the retention (400 FAILED_PRECONDITION) starts over with
`initialSnapshot=true`: every live application again, then the changes.

Without --org it follows every organization (a token with scope
oauthapps:watch). --max-events and --drop-after make a short run that
ends, as CI runs it (examples/clients.sh).
"""

import argparse
import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# Longer than the server's heartbeat (OAUTH_APPS_WATCH_HEARTBEAT, 30 s):
# a connection this quiet is dead.
READ_TIMEOUT = 75


class StreamEnded(Exception):
    """A running stream ended with an `event: error` (AIP-193's body)."""

    def __init__(self, error):
        super().__init__(f"{error.get('status')}: {error.get('message')}")
        self.status = error.get("status")


def sse_events(response):
    """Yields (id, event, data) for each event of a text/event-stream."""
    event_id, name, data = None, None, []
    for raw in response:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield event_id, name, "\n".join(data)
            event_id, name, data = None, None, []
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "id":
                event_id = value
            elif field == "event":
                name = value
            elif field == "data":
                data.append(value)


class Follower:
    def __init__(self, args):
        self.args = args
        self.last_id = None
        self.snapshot = args.snapshot
        self.counted = 0
        self.connections = 0

    def url(self):
        base = self.args.url.rstrip("/")
        if self.args.org:
            org = urllib.parse.quote(self.args.org, safe="")
            url = f"{base}/v1/organizations/{org}/applications:watch"
        else:
            url = f"{base}/v1/applications:watch"
        # With a Last-Event-ID the snapshot is behind us: the server ignores it.
        return url + ("?initialSnapshot=true" if self.snapshot else "")

    def connect(self):
        headers = {
            "Authorization": f"Bearer {self.args.token}",
            "Accept": "text/event-stream",
        }
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        request = urllib.request.Request(self.url(), headers=headers)
        return urllib.request.urlopen(request, timeout=READ_TIMEOUT)

    def done(self):
        return self.args.max_events and self.counted >= self.args.max_events

    def read(self, response):
        """Prints the events of one connection; returns when it ends."""
        seen = 0
        for event_id, name, data in sse_events(response):
            body = json.loads(data)
            if name == "error":
                raise StreamEnded(body["error"])
            print(json.dumps(body, separators=(",", ":")), flush=True)
            if event_id:
                self.last_id = event_id
            if body.get("type") != "CHANGE_TYPE_HEARTBEAT":
                self.counted += 1
                seen += 1
            if self.done():
                return
            # A test of the resume: drop the first connection on purpose.
            if self.connections == 1 and seen == self.args.drop_after:
                log(f"dropping the connection after {seen} event(s)")
                return

    def run(self):
        delay = 0.5
        while not self.done():
            try:
                with self.connect() as response:
                    self.connections += 1
                    log("connected" if self.connections == 1 else "resumed")
                    delay = 0.5
                    self.read(response)
            except urllib.error.HTTPError as e:
                error = json.load(e).get("error", {})
                if error.get("status") == "FAILED_PRECONDITION":
                    log("the resume token is past the retention: a new snapshot")
                    self.last_id, self.snapshot = None, True
                    continue
                if e.code not in (429, 503):
                    sys.exit(f"refused: {e.code} {error.get('status')}: {error.get('message')}")
                log(f"{e.code} {error.get('status')}; retrying")
            except StreamEnded as e:
                if e.status == "PERMISSION_DENIED":
                    sys.exit(f"the stream ended: {e}")
                log(f"the stream ended ({e}); resuming")
            except (OSError, http.client.HTTPException) as e:
                log(f"connection lost ({e}); resuming")
            else:
                continue
            time.sleep(delay)
            delay = min(delay * 2, 30)
        log(f"{self.counted} event(s), resumed {self.connections - 1} time(s)")


def log(message):
    print(f"watch.py: {message}", file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("OAUTH_APPS_URL", "http://127.0.0.1:50051"))
    parser.add_argument("--org", help="one organization's changes (any member); default: all")
    parser.add_argument("--token", default=os.environ.get("OAUTH_APPS_TOKEN"))
    parser.add_argument("--snapshot", action="store_true", help="start with every live application")
    parser.add_argument("--max-events", type=int, default=0, help="stop after N (heartbeats aside)")
    parser.add_argument("--drop-after", type=int, default=0, help="drop the first connection after N")
    args = parser.parse_args()
    if not args.token:
        parser.error("give --token or OAUTH_APPS_TOKEN")
    try:
        Follower(args).run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
