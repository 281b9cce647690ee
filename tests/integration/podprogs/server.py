"""A tiny HTTP server run as a real process on the local node.

/ready answers 503 until someone calls /arm, so a test controls exactly when
the readiness probe starts passing. On SIGTERM it notes the signal in
$EVENTS_FILE (a hostPath the test reads) and exits.
"""

import http.server
import os
import signal
import sys
import time

armed = False


def note(event: str) -> None:
    path = os.environ.get("EVENTS_FILE")
    if path:
        with open(path, "a") as f:
            f.write(f"{event} {time.time():.3f}\n")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        global armed
        if self.path == "/arm":
            armed = True
        if self.path == "/ready" and not armed:
            self.send_response(503)
            self.end_headers()
            return
        body = f"hello from {os.environ.get('POD_NAME')} at {os.environ.get('POD_IP')}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def on_sigterm(*_: object) -> None:
    note("sigterm")
    sys.exit(0)


signal.signal(signal.SIGTERM, on_sigterm)
print(f"serving on :8080 as {os.environ.get('POD_NAME')}", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
