#!/usr/bin/env python3
"""Opens an `expc report` page in headless Chromium and says what it rendered.

    chromium.py REPORT.html [--screenshot OUT.png] [--chromium PATH] [--timeout SECONDS]
                [--then JS]

Drives Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe: no port,
no network, standard library only). Waits until the page's script marks <body
data-ready="1">, then prints one JSON object:

    errors      console errors, uncaught exceptions and log errors, as text
    requests    URLs the page asked for other than itself and data:/blob: URLs
    ready_ms    navigation start to data-ready, as the page measured it
    wall_ms     Page.navigate sent to data-ready seen, as this script measured it
    marks       for every element with a data-marks attribute: its id -> its data-* values
    title       the document title

With --then, JS is evaluated once the page is ready (as a user's action would be, e.g.
brushing an axis through ECharts' dispatchAction) and the page is read half a second
later.

Exits 2 when Chromium cannot be started, 3 when the page did not become ready in time.
"""

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import queue

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
]

COLLECT = r"""
(function () {
  var out = {};
  document.querySelectorAll('[data-marks]').forEach(function (e) {
    var d = {};
    for (var k in e.dataset) d[k] = e.dataset[k];
    out[e.id] = d;
  });
  ['selection-table', 'tasks-table'].forEach(function (id) {
    var t = document.getElementById(id);
    if (t && t.dataset.rows !== undefined) out[id] = { rows: t.dataset.rows };
  });
  return JSON.stringify({ marks: out, title: document.title,
    ready_ms: Number(document.body.getAttribute('data-ready-ms')),
    timings: JSON.parse(document.body.getAttribute('data-timings') || '{}'),
    height: document.documentElement.scrollHeight,
    params: (document.getElementById('params-table') || {}).textContent });
})()
"""


class Browser:
    def __init__(self, binary, profile):
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        # Keep the child's ends away from 3 and 4, which they must become.
        hi_r = _high(to_r)
        hi_w = _high(from_w)

        def child():
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4, hi_r, hi_w),
            preexec_fn=child,
        )
        for fd in (hi_r, hi_w):
            os.close(fd)
        self.out = os.fdopen(to_w, "wb", buffering=0)
        self.inp = os.fdopen(from_r, "rb", buffering=0)
        self.next_id = 0
        self.replies = {}
        self.events = queue.Queue()
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = b""
        while True:
            chunk = self.inp.read(65536)
            if not chunk:
                with self.cond:
                    self.replies[None] = True
                    self.cond.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                m = json.loads(msg)
                if "id" in m:
                    with self.cond:
                        self.replies[m["id"]] = m
                        self.cond.notify_all()
                else:
                    self.events.put(m)

    def call(self, method, params=None, session=None, timeout=30):
        self.next_id += 1
        i = self.next_id
        msg = {"id": i, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.out.write(json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self.cond:
            while i not in self.replies:
                if None in self.replies:
                    raise RuntimeError(f"chromium exited during {method}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(method)
                self.cond.wait(left)
            m = self.replies.pop(i)
        if "error" in m:
            raise RuntimeError(f"{method}: {m['error']}")
        return m.get("result", {})

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _high(fd):
    import fcntl

    hi = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return hi


def describe(event):
    m, p = event.get("method"), event.get("params", {})
    if m == "Runtime.exceptionThrown":
        d = p.get("exceptionDetails", {})
        exc = d.get("exception", {}).get("description") or d.get("text")
        return f"uncaught: {exc} at {d.get('url', '')}:{d.get('lineNumber')}"
    if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
        args = [a.get("value", a.get("description", "")) for a in p.get("args", [])]
        return "console." + p["type"] + ": " + " ".join(str(a) for a in args)
    if m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
        e = p["entry"]
        return f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("report")
    ap.add_argument("--screenshot")
    ap.add_argument("--chromium", default=None)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--then", default=None)
    a = ap.parse_args()

    binary = a.chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        print("chromium not found", file=sys.stderr)
        sys.exit(2)
    url = "file://" + os.path.abspath(a.report)
    profile = tempfile.mkdtemp(prefix="expc-report-chromium-")
    b = None
    try:
        try:
            b = Browser(binary, profile)
            target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        except Exception as e:
            print(f"cannot start chromium: {e}", file=sys.stderr)
            sys.exit(2)
        s = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            b.call(domain + ".enable", session=s)
        b.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": a.width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=s,
        )
        start = time.monotonic()
        b.call("Page.navigate", {"url": url}, session=s)
        ready = None
        while time.monotonic() - start < a.timeout:
            r = b.call(
                "Runtime.evaluate",
                {"expression": "document.body && document.body.getAttribute('data-ready')",
                 "returnByValue": True},
                session=s,
            )
            if r.get("result", {}).get("value") == "1":
                ready = time.monotonic()
                break
            time.sleep(0.01)
        errors, requests = [], []
        if ready is not None and a.then:
            r = b.call("Runtime.evaluate", {"expression": a.then}, session=s)
            if "exceptionDetails" in r:
                errors.append("--then: " + json.dumps(r["exceptionDetails"]))
            time.sleep(0.5)

        def drain():
            while not b.events.empty():
                ev = b.events.get()
                d = describe(ev)
                if d:
                    errors.append(d)
                if ev.get("method") == "Network.requestWillBeSent":
                    u = ev["params"]["request"]["url"]
                    if u != url and not u.startswith(("data:", "blob:")):
                        requests.append(u)

        if ready is None:
            drain()
            print(json.dumps({"errors": errors, "requests": requests, "timeout": True}))
            sys.exit(3)
        facts = json.loads(
            b.call("Runtime.evaluate", {"expression": COLLECT, "returnByValue": True}, session=s)
            ["result"]["value"]
        )
        if a.screenshot:
            height = min(int(facts.get("height") or 900), 8000)
            b.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": a.width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=s,
            )
            # Let the charts redraw after the resize settles.
            time.sleep(0.5)
            png = b.call("Page.captureScreenshot", {"format": "png"}, session=s)["data"]
            with open(a.screenshot, "wb") as f:
                f.write(base64.b64decode(png))
        time.sleep(0.2)
        drain()
        facts.update(
            {"errors": errors, "requests": requests, "wall_ms": round((ready - start) * 1000)}
        )
        print(json.dumps(facts))
    finally:
        if b:
            b.close()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
