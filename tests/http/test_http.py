#!/usr/bin/env python3
"""test_http.py - weftd's HTTP listener over real HTTP (docs/http.md).

Starts weftd (under Wine) with the sample bank's definition file on free
loopback ports, plus the programs of httpprog.dll, and drives it with
Python's standard library. One group of cases per run (ctest runs each
group as its own test):

  api         the program API: method, path parameters, query, headers,
              body, status and response headers; the signed-on user
  bank        every route of the bank's JSON API
  errors      400, 401, 403, 404, 405, 409, 413, 500, 503 (class at its
              purge threshold; shutdown) as JSON with the right status
  hostile     slow header, oversized bodies, malformed requests, huge
              headers: each answered or closed, others served meanwhile
  disconnect  a client that goes away while its task runs: the task is
              abended ATNI and its record backed out
  metrics     /metrics (Prometheus text) and /health
  promtool    `promtool check metrics` on the output
  prometheus  a real Prometheus scrapes weftd; its query API shows the
              series and that they move under load
  (the last two exit 77, skipped, when Prometheus is not installed)

weftd is stopped by SHUTDOWN on its console (its stdin), else by its pid.
Exit status 0 when every case passed, 1 otherwise.
"""
import argparse
import base64
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

WAIT_S = 120  # a condition the test waits for must hold within this
USERS = {"alice": "alice123", "bob": "bob123", "op": "op123"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TEST_DEFS = """
# -- httpprog.dll: the HTTP tests' programs (tests/http/test_http.py) --
ENCLAVE name=SLOW importance=3
CLASS name=ONE max_active=1 purge_threshold=1
FILE name=SLOWF key_max=16 rec_max=8
PROGRAM name=HECHO dll=httpprog.dll symbol=http_echo
PROGRAM name=HABND dll=httpprog.dll symbol=http_abend
PROGRAM name=HSLOW dll=httpprog.dll symbol=http_slow
PROGRAM name=HSLGET dll=httpprog.dll symbol=http_slowget
TRANSACTION tranid=HECHO program=HECHO
TRANSACTION tranid=HECHOA program=HECHO groups=AUDITOR
TRANSACTION tranid=HABND program=HABND
TRANSACTION tranid=HSLOW program=HSLOW enclave=SLOW
TRANSACTION tranid=HSLOWC program=HSLOW enclave=SLOW class=ONE
TRANSACTION tranid=HSLGET program=HSLGET
ROUTE method=GET path=/echo/{id} tranid=HECHO
ROUTE method=POST path=/echo/{id} tranid=HECHO
ROUTE method=GET path=/auditors/{id} tranid=HECHOA
ROUTE method=GET path=/abend tranid=HABND
ROUTE method=POST path=/slow/{key} tranid=HSLOW
ROUTE method=POST path=/slowc/{key} tranid=HSLOWC
ROUTE method=GET path=/slow/{key} tranid=HSLGET
"""


class Region:
    """weftd with the bank in a directory of its own."""

    def __init__(self, bindir):
        self.bindir = bindir
        self.dir = tempfile.mkdtemp(prefix="weft-http-")
        self.term_port, self.port = free_port(), free_port()
        with open(os.path.join(bindir, "bank.wrd")) as f:
            text = f.read()
        text = text.replace("listen=127.0.0.1:3270", "listen=127.0.0.1:%d" % self.term_port)
        http_line = ("HTTP listen=127.0.0.1:%d max_connections=64 header_max=2048 "
                     "body_max=4096 request_timeout_s=4 keepalive_s=3" % self.port)
        text, n = re.subn(r"^HTTP .*$", http_line, text, flags=re.M)
        assert n == 1, "bank.wrd has no HTTP line"
        with open(os.path.join(self.dir, "bank.wrd"), "w") as f:
            f.write(text + TEST_DEFS)
        for dll in ("bank.dll", "httpprog.dll"):
            shutil.copy(os.path.join(bindir, dll), self.dir)
        self.log = open(os.path.join(self.dir, "weftd.log"), "w+")
        self.proc = subprocess.Popen(
            ["wine", os.path.join(bindir, "weftd.exe"), "bank.wrd"], cwd=self.dir,
            stdin=subprocess.PIPE, stdout=self.log, stderr=subprocess.STDOUT, text=True)
        try:
            until(lambda: self.get_status("/health") == 200, "weftd answers /health")
            until(lambda: self.request("GET", "/accounts/1000", user="bob")[0] == 200,
                  "the bank is seeded (account 1000 exists)")
        except BaseException:
            print("weftd did not come up:\n" + self.tail())
            self.stop()
            raise

    def get_status(self, path):
        try:
            return self.request("GET", path)[0]
        except OSError:
            if self.proc.poll() is not None:
                raise RuntimeError("weftd exited (%s): %s" % (self.proc.returncode, self.tail()))
            return None

    def request(self, method, path, body=None, user=None, password=None, headers=None):
        """One request on a new connection: (status, headers, parsed body)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = dict(headers or {})
        if user is not None:
            pw = password if password is not None else USERS[user]
            h["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read().decode("utf-8", "replace")
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        parsed = data
        if hdrs.get("content-type", "").startswith("application/json"):
            parsed = json.loads(data)
        return r.status, hdrs, parsed

    def metric(self, name, **labels):
        """The value of one series of /metrics (None when absent)."""
        _, _, text = self.request("GET", "/metrics")
        want = name + ("{" + ",".join('%s="%s"' % kv for kv in labels.items()) + "}"
                       if labels else "")
        for line in text.splitlines():
            if line.startswith(want + " "):
                return float(line.split()[-1])
        return None

    def raw(self, data):
        """A raw socket that sent data."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        if data:
            s.sendall(data)
        return s

    def tail(self):
        self.log.flush()
        self.log.seek(0)
        return "".join(self.log.readlines()[-15:])

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("SHUTDOWN IMMEDIATE\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def until(cond, what, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting until " + what)


def recv_all(s):
    """Everything the server sends until it closes (b'' at once if closed)."""
    out = b""
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            return out
        if not b:
            return out
        out += b


def status_of(raw):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    return int(m.group(1)) if m else None


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(got, want, what):
    check(got == want, "%s: got %r, want %r" % (what, got, want))


def cents(s):
    neg = s.startswith("-")
    units, frac = s.lstrip("-").split(".")
    v = int(units) * 100 + int(frac)
    return -v if neg else v


# ---- Groups ----------------------------------------------------------------------


def t_api(r):
    st, h, b = r.request("GET", "/echo/abc?q=hello%20world", user="alice",
                         headers={"X-Test": "t1"})
    eq(st, 200, "GET /echo status")
    eq(h.get("x-echo"), "yes", "response header set by the program")
    eq((b["method"], b["path"], b["id"], b["q"], b["x_test"]),
       ("GET", "/echo/abc", "abc", "hello world", "t1"), "request as the program reads it")
    eq(b["authorization"], "", "the Authorization header is not handed to programs")
    eq(b["user"], "alice", "the task's user is the signed-on one")
    st, _, b = r.request("POST", "/echo/x?status=418", body="{\"k\": 1}", user="alice",
                         headers={"Content-Type": "application/json"})
    eq(st, 418, "status set by the program")
    eq((b["body"], b["body_len"]), ("{\"k\": 1}", 8), "the body as the program reads it")


def t_bank(r):
    st, _, a = r.request("GET", "/accounts/7", user="alice")
    eq(st, 200, "inquiry status")
    eq(a["account"], 7, "inquiry account")
    check(a["holder"] != "", "inquiry has a holder")
    b0 = cents(a["balance"])
    st, _, a = r.request("POST", "/accounts/7/deposits", {"amount": "25.50"}, user="alice")
    eq((st, cents(a["balance"])), (200, b0 + 2550), "deposit")
    st, _, a = r.request("POST", "/accounts/7/withdrawals", {"amount": 10}, user="alice")
    eq((st, cents(a["balance"])), (200, b0 + 1550), "withdrawal")
    _, _, a8 = r.request("GET", "/accounts/8", user="alice")
    st, _, x = r.request("POST", "/transfers", {"from": 7, "to": 8, "amount": "5.00"}, user="alice")
    eq(st, 200, "transfer status")
    eq((x["amount"], cents(x["from"]["balance"]), cents(x["to"]["balance"])),
       ("5.00", b0 + 1050, cents(a8["balance"]) + 500), "transfer balances")
    st, _, s = r.request("GET", "/accounts/7/statement?page=1", user="alice")
    eq(st, 200, "statement status")
    eq([(e["entry"], e["what"], e["amount"]) for e in s["entries"]],
       [(1, "OPENING BALANCE", "%d.%02d" % divmod(b0, 100)), (2, "DEPOSIT", "25.50"),
        (3, "WITHDRAWAL", "-10.00"), (4, "TRANSFER TO 8", "-5.00")], "statement page 1")
    eq((s["more"], s["entries"][1]["by"]), (False, "alice"), "statement end and user")
    st, _, s2 = r.request("GET", "/accounts/7/statement?page=2", user="bob")
    eq((st, s2["entries"], s2["more"]), (200, [], False), "statement page 2 (empty)")
    st, h, o = r.request("POST", "/accounts", {"holder": "Ann Lee", "deposit": "100"}, user="alice")
    eq(st, 201, "open account status")
    eq(h.get("location"), "/accounts/%d" % o["account"], "open account Location")
    st, _, a = r.request("GET", h["location"], user="alice")
    eq((st, a["holder"], a["balance"]), (200, "Ann Lee", "100.00"), "the opened account")
    st, _, au = r.request("GET", "/audit", user="bob")
    eq((st, au["ok"], au["bad_accounts"]), (200, True, 0), "audit")


def t_errors(r):
    cases = [
        ("GET", "/accounts/7", None, None, 401, "unauthorized"),
        ("GET", "/accounts/7", None, ("alice", "wrong"), 401, "unauthorized"),
        ("GET", "/audit", None, "alice", 403, "forbidden"),
        ("GET", "/auditors/1", None, "alice", 403, "forbidden"),
        ("GET", "/accounts/abc", None, "alice", 400, "bad_request"),
        ("POST", "/accounts/7/deposits", {"amount": "abc"}, "alice", 400, "bad_request"),
        ("POST", "/accounts/7/deposits", "not json", "alice", 400, "bad_request"),
        ("POST", "/accounts/7/deposits", {"other": 1}, "alice", 400, "bad_request"),
        ("GET", "/accounts/99999999", None, "alice", 404, "not_found"),
        ("GET", "/no/such/route", None, "alice", 404, "no_route"),
        ("DELETE", "/accounts/7", None, "alice", 405, "method_not_allowed"),
        ("POST", "/accounts/7/withdrawals", {"amount": "999999999"}, "alice", 409, "refused"),
        ("POST", "/transfers", {"from": 7, "to": 7, "amount": "1"}, "alice", 409, "refused"),
        ("POST", "/echo/x", "y" * 5000, "alice", 413, "too_large"),
        ("GET", "/abend", None, "alice", 500, "abend"),
    ]
    for method, path, body, who, want, code in cases:
        user, pw = (who if isinstance(who, tuple) else (who, None))
        st, h, b = r.request(method, path, body, user=user, password=pw)
        what = "%s %s as %s" % (method, path, who)
        eq((st, b.get("error") if isinstance(b, dict) else b), (want, code), what)
        if want == 401:
            eq(h.get("www-authenticate"), 'Basic realm="weft"', what + ": challenge")
    st, _, b = r.request("GET", "/abend", user="alice")
    eq((b["abcode"], b["tranid"]), ("TABN", "HABND"), "500 names the abend")
    # 503: class ONE (max_active 1, purge_threshold 1) full and its queue full.
    first = r.raw(b"POST /slowc/a?ms=600000 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n"
                  b"Authorization: Basic " + base64.b64encode(b"alice:alice123") + b"\r\n\r\n")
    until(lambda: r.metric("weft_class_active", **{"class": "ONE"}) == 1, "class ONE is full")
    second = r.raw(b"POST /slowc/b?ms=600000 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n"
                   b"Authorization: Basic " + base64.b64encode(b"alice:alice123") + b"\r\n\r\n")
    until(lambda: r.metric("weft_class_queued", **{"class": "ONE"}) == 1, "class ONE's queue is full")
    st, h, b = r.request("POST", "/slowc/c", user="alice")
    eq((st, b["error"], h.get("retry-after")), (503, "busy", "1"), "class at its purge threshold")
    first.close()
    second.close()
    until(lambda: r.metric("weft_class_active", **{"class": "ONE"}) == 0 and
          r.metric("weft_class_queued", **{"class": "ONE"}) == 0, "class ONE is empty again")
    # 503 while the region drains: a task that runs until its client goes.
    slow = r.raw(b"POST /slow/d?ms=600000 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n"
                 b"Authorization: Basic " + base64.b64encode(b"alice:alice123") + b"\r\n\r\n")
    until(lambda: r.metric("weft_enclave_tasks_active", enclave="SLOW") == 1, "the slow task runs")
    r.proc.stdin.write("SHUTDOWN\n")
    r.proc.stdin.flush()
    until(lambda: r.get_status("/health") == 503, "/health says draining")
    st, h, b = r.request("GET", "/health")
    eq((st, b["status"]), (503, "draining"), "health while draining")
    st, h, b = r.request("GET", "/accounts/7", user="alice")
    eq((st, b["error"], h.get("retry-after")), (503, "shutting_down", "1"), "503 at shutdown")
    slow.close()
    r.proc.wait(timeout=WAIT_S)
    eq(r.proc.returncode, 0, "weftd's exit status after the normal shutdown")


def t_hostile(r):
    # A slow header: the connection is closed after keepalive_s without a
    # request, while other clients are served.
    slow = r.raw(b"GET /health HTTP/1.1\r\nHost: t\r\n")
    eq(r.get_status("/health"), 200, "another client is served meanwhile")
    t0 = time.monotonic()
    got = recv_all(slow)
    check(time.monotonic() - t0 < 60, "the slow header's connection was closed")
    check(status_of(got) in (None, 408), "no answer but a timeout to a slow header: %r" % got[:40])
    # A header that drips: closed by request_timeout_s though it never idles.
    drip = r.raw(b"GET /health HTTP/1.1\r\n")
    drip.settimeout(0.5)
    closed = False
    for i in range(200):  # one header line each 0.5 s: 100 s unless cut
        try:
            drip.sendall(b"X-%d: y\r\n" % i)
            closed = drip.recv(1) == b""
        except socket.timeout:
            pass
        except OSError:
            closed = True
        if closed:
            break
    check(closed, "a dripping header is cut off (request_timeout_s)")
    until(lambda: "took more than 4 s to arrive" in r.tail(), "the log says why the drip was cut")
    # Bodies over body_max: announced, and chunked.
    s = r.raw(b"POST /echo/x HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
    eq(status_of(recv_all(s)), 413, "announced body over body_max")
    s = r.raw(b"POST /echo/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
              b"Authorization: Basic " + base64.b64encode(b"alice:alice123") + b"\r\n\r\n" +
              (b"1000\r\n" + b"z" * 4096 + b"\r\n") * 2 + b"0\r\n\r\n")
    eq(status_of(recv_all(s)), 413, "chunked body over body_max")
    # Malformed requests.
    for junk in (b"GARBAGE\r\n\r\n", b"GET /health HTTP/1.1\r\nBad Header Line\r\n\r\n",
                 b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40):
        got = recv_all(r.raw(junk))
        check(status_of(got) in (None, 400, 505), "malformed %r: %r" % (junk[:12], got[:40]))
    # Headers over header_max.
    got = recv_all(r.raw(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n"))
    check(status_of(got) in (431, 413, 400), "huge header answered: %r" % got[:40])
    eq(r.get_status("/health"), 200, "the region still serves")


def t_disconnect(r):
    s = r.raw(b"POST /slow/k1?ms=600000 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n"
              b"Authorization: Basic " + base64.b64encode(b"alice:alice123") + b"\r\n\r\n")
    until(lambda: r.metric("weft_enclave_tasks_active", enclave="SLOW") == 1,
          "the slow task runs (its record written, not committed)")
    s.close()
    until(lambda: r.metric("weft_abends_total", code="ATNI") == 1, "the task is abended ATNI")
    st, _, b = r.request("GET", "/slow/k1", user="alice")
    eq((st, b["found"]), (404, False), "the gone client's record was backed out")
    st, _, b = r.request("POST", "/slow/k2?ms=0", user="alice")
    eq((st, b["written"]), (200, "k2"), "a client that stays gets its answer")
    st, _, b = r.request("GET", "/slow/k2", user="alice")
    eq((st, b["found"]), (200, True), "... and its record is committed")


def t_metrics(r):
    for _ in range(3):
        r.request("GET", "/accounts/7", user="alice")
    st, h, text = r.request("GET", "/metrics")
    eq(st, 200, "/metrics status")
    check(h["content-type"].startswith("text/plain; version=0.0.4"), "exposition content type")
    for series in ('weft_transaction_response_seconds_bucket{tranid="INQ",le="+Inf"}',
                   'weft_transaction_response_seconds_count{tranid="INQ"}',
                   'weft_enclave_response_seconds_sum{enclave="ONLINE"}',
                   'weft_enclave_performance_index{enclave="ONLINE"}',
                   'weft_enclave_goal_seconds{enclave="ONLINE"} 0.050',
                   'weft_class_max_active{class="XFERS"} 16', "weft_tasks_active",
                   "weft_log_flushes_total", "weft_http_connections", "weft_terminals 0",
                   'weft_worker_busy_seconds_total{worker="0"}'):
        check(series in text, "/metrics lacks " + series)
    n = r.metric("weft_transaction_response_seconds_count", tranid="INQ")
    check(n >= 4, "INQ's count %s counts the inquiries (4 with the seed check)" % n)
    r.request("GET", "/accounts/7", user="alice")
    eq(r.metric("weft_transaction_response_seconds_count", tranid="INQ"), n + 1, "the count moves")
    st, _, b = r.request("GET", "/health")
    eq((st, b), (200, {"status": "ready"}), "/health when ready")


def t_promtool(r):
    _, _, text = r.request("GET", "/metrics")
    p = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                       capture_output=True)
    eq((p.returncode, p.stdout + p.stderr), (0, ""), "promtool check metrics")


def t_prometheus(r):
    """A real Prometheus scrapes weftd; its query API shows the series and
    that they move under load."""
    pdir = tempfile.mkdtemp(prefix="weft-prom-")
    port = free_port()
    with open(os.path.join(pdir, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: weft\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % r.port)
    log = open(os.path.join(pdir, "prometheus.log"), "w")
    prom = subprocess.Popen(["prometheus", "--config.file=" + os.path.join(pdir, "prometheus.yml"),
                             "--storage.tsdb.path=" + os.path.join(pdir, "data"),
                             "--web.listen-address=127.0.0.1:%d" % port],
                            stdout=log, stderr=subprocess.STDOUT)

    def query(q):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            c.request("GET", "/api/v1/query?query=" + q)
            res = json.loads(c.getresponse().read())
        except (OSError, ValueError):  # not up yet, or not ready (plain text)
            return None
        finally:
            c.close()
        if res.get("status") != "success" or not res["data"]["result"]:
            return None
        return float(res["data"]["result"][0]["value"][1])

    def inq_count():
        return query('weft_transaction_response_seconds_count%7Btranid%3D%22INQ%22%7D')

    try:
        until(lambda: query("up%7Bjob%3D%22weft%22%7D") == 1, "Prometheus scrapes weftd (up == 1)")
        until(lambda: inq_count() is not None, "Prometheus has INQ's histogram")
        before = inq_count()
        for _ in range(20):
            r.request("GET", "/accounts/7", user="alice")
        until(lambda: (inq_count() or 0) >= before + 20, "INQ's count moves by the 20 inquiries")
        check(query('weft_enclave_response_seconds_bucket%7Benclave%3D%22ONLINE%22%2Cle%3D%22%2BInf%22%7D')
              is not None, "the ONLINE enclave's histogram is stored")
    finally:
        prom.terminate()
        prom.wait(timeout=30)
        log.close()
        shutil.rmtree(pdir, ignore_errors=True)


GROUPS = {"api": t_api, "bank": t_bank, "errors": t_errors, "hostile": t_hostile,
          "disconnect": t_disconnect, "metrics": t_metrics, "promtool": t_promtool,
          "prometheus": t_prometheus}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="the build's bin directory")
    ap.add_argument("group", choices=sorted(GROUPS))
    a = ap.parse_args()
    tool = {"promtool": "promtool", "prometheus": "prometheus"}.get(a.group)
    if tool is not None and shutil.which(tool) is None:
        print("%s is not installed (Debian package prometheus): skipped" % tool)
        return 77
    r = Region(os.path.abspath(a.bin))
    try:
        GROUPS[a.group](r)
    except Exception as e:  # report with weftd's last lines
        print("FAILED %s: %s\n--- weftd log ---\n%s" % (a.group, e, r.tail()))
        r.stop()
        return 1
    r.stop()
    print("http %s: passed" % a.group)
    return 0


if __name__ == "__main__":
    sys.exit(main())
