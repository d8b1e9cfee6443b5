#!/usr/bin/env python3
"""A small HTTP file server for the remote-input tests, on 127.0.0.1 and a free port.

Serves the files of a folder with Content-Length and an ETag (the SHA-256 of the bytes),
answers If-None-Match with 304, and logs every request line to a file, so a test can
tell that a run made no request. Paths under a prefix misbehave on purpose:
  /_cut/NAME    sends the headers of NAME and half its body, then closes the connection;
  /_stall/NAME  waits 30 s before answering;
  /_flaky/NAME  answers 503 to the first two requests for NAME, then serves it;
  /_deny/NAME   answers 403.
Prints the port on its first line of standard output, then serves until killed.
Usage: http_server.py FOLDER LOG
"""

import hashlib
import http.server
import os
import sys
import time

ROOT, LOG = sys.argv[1], sys.argv[2]
FLAKY = {}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_HEAD(self):
        self.serve(body=False)

    def do_GET(self):
        self.serve(body=True)

    def serve(self, body):
        with open(LOG, "a") as log:
            log.write(f"{self.command} {self.path}\n")
        path = self.path.split("?", 1)[0]
        mode = None
        for prefix in ("/_cut/", "/_stall/", "/_flaky/", "/_deny/"):
            if path.startswith(prefix):
                mode, path = prefix.strip("/").lstrip("_"), "/" + path[len(prefix):]
        if mode == "deny":
            return self.empty(403)
        if mode == "stall":
            time.sleep(30)
        if mode == "flaky":
            FLAKY[path] = FLAKY.get(path, 0) + 1
            if FLAKY[path] <= 2:
                return self.empty(503)
        file = os.path.join(ROOT, path.lstrip("/"))
        if not os.path.isfile(file):
            return self.empty(404)
        data = open(file, "rb").read()
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", etag)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if not body:
            return
        if mode == "cut":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    def empty(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
