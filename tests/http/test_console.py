#!/usr/bin/env python3
"""test_console.py - weftd's web console (docs/console.md) over real HTTP.

Starts weftd with the bank and the HTTP tests' programs (test_http.Region)
and checks one group per run (ctest runs each as console_<group>):

  api      the page's files; the JSON API: sign-on (operators only: 401
           without or with a wrong password, 403 for a non-operator), the
           state (enclaves, chart, transactions, programs, classes, tasks,
           terminals), each action (enable/disable a transaction and a
           program, set a class's max active, purge a task) with its effect
           and its line in the region's log; CSRF refusals without or with a
           wrong token, bad numbers and unknown names; sign-off
  browser  headless Chromium driven through chromedriver's WebDriver HTTP
           API (Python's standard library) loads the console while a load
           thread runs the bank, signs on, reads the enclave table from the
           DOM, takes a screenshot (--screenshot FILE keeps it), and clicks
           Disable and Enable on a transaction, each verified through the
           API (exit 77, skipped, when chromium or chromedriver is missing);
           --settle S lets the load run S seconds more before the picture

Exit status 0 when every case passed, 1 otherwise.
"""
import argparse
import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_http as th  # noqa: E402  (Region, until, check)

until, check, eq = th.until, th.check, th.eq


class Console:
    """A console session over plain HTTP: its cookies and CSRF token."""

    def __init__(self, r, user="op"):
        self.r = r
        st, h, b = self.call("POST", "/console/api/session", auth=(user, th.USERS[user]))
        eq(st, 200, "operator %s signs on" % user)
        self.cookies = {}
        for line in h["set-cookie-all"]:
            name, _, rest = line.partition("=")
            self.cookies[name] = rest.split(";")[0]
        eq(self.cookies["weft_csrf"], b["csrf"], "the CSRF cookie holds the token the body gives")
        self.csrf = b["csrf"]

    def call(self, method, path, auth=None, csrf=None, cookies=True):
        c = http.client.HTTPConnection("127.0.0.1", self.r.port, timeout=60)
        h = {}
        if auth is not None:
            h["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode()
        if cookies and getattr(self, "cookies", None):
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        if csrf is not None:
            h["X-Weft-CSRF"] = csrf
        c.request(method, path, headers=h)
        resp = c.getresponse()
        data = resp.read().decode("utf-8", "replace")
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        hdrs["set-cookie-all"] = resp.msg.get_all("Set-Cookie") or []
        c.close()
        body = json.loads(data) if hdrs.get("content-type", "").startswith("application/json") \
            else data
        return resp.status, hdrs, body

    def state(self):
        st, _, b = self.call("GET", "/console/api/state")
        eq(st, 200, "GET /console/api/state")
        return b

    def act(self, path, csrf=True):
        return self.call("POST", "/console/api/" + path, csrf=self.csrf if csrf else None)

    def tran(self, tranid):
        return next(t for t in self.state()["transactions"] if t["tranid"] == tranid)


def log_has(r, text):
    r.log.flush()
    with open(os.path.join(r.dir, "weftd.log")) as f:
        return text in f.read()


def t_files(r, con):
    st, h, page = con.call("GET", "/console/", cookies=False)
    eq((st, h["content-type"].split(";")[0]), (200, "text/html"), "the page")
    check('<table id="enclaves">' in page, "the page has the enclave table")
    check("default-src 'self'" in h.get("content-security-policy", ""), "the page's CSP")
    for name, ctype in (("console.js", "text/javascript"), ("console.css", "text/css")):
        st, h, body = con.call("GET", "/console/" + name, cookies=False)
        eq((st, h["content-type"].split(";")[0]), (200, ctype), name)
    eq(con.call("GET", "/console", cookies=False)[:2][0], 302, "/console redirects to /console/")
    eq(con.call("GET", "/console/nope.js", cookies=False)[0], 404, "an unknown file")


def t_signon(r, con):
    st, _, b = con.call("GET", "/console/api/state", cookies=False)
    eq((st, b["error"]), (401, "signon_required"), "the state without a session")
    st, _, b = con.call("POST", "/console/api/session", cookies=False)
    eq(st, 401, "sign-on without credentials")
    st, _, b = con.call("POST", "/console/api/session", auth=("op", "wrong"), cookies=False)
    eq(st, 401, "sign-on with a wrong password")
    st, h, b = con.call("POST", "/console/api/session", auth=("alice", "alice123"), cookies=False)
    eq((st, b["error"], h["set-cookie-all"]), (403, "forbidden", []),
       "a non-operator (alice, TELLER) is refused, no cookie")
    until(lambda: log_has(r, "console: user alice refused"), "the refusal is in the log")
    sess = [c for c in Console(r).cookies]
    eq(sorted(sess), ["weft_csrf", "weft_session"], "the session's cookies")
    st, h, _ = con.call("POST", "/console/api/session", auth=("op", "op123"), cookies=False)
    ck = " ".join(h["set-cookie-all"])
    check("HttpOnly" in h["set-cookie-all"][0] and ck.count("SameSite=Strict") == 2,
          "the session cookie is HttpOnly, both are SameSite=Strict: %s" % ck)
    eq(con.call("GET", "/console/api/state", cookies=False, auth=("op", "op123"))[0], 401,
       "Basic credentials alone are no session")


def t_state(r, con):
    s = con.state()
    eq(s["user"], "op", "the signed-on operator")
    names = [e["name"] for e in s["enclaves"]]
    check("DEFAULT" in names and "SLOW" in names, "enclaves: %s" % names)
    e = s["enclaves"][0]
    for k in ("goal", "pi", "p50_ms", "p90_ms", "p99_ms", "tps", "completed", "importance"):
        check(k in e, "an enclave has %s" % k)
    eq(con.tran("HECHO")["status"], "enabled", "HECHO is enabled")
    check(any(p["name"] == "HECHO" and p["status"] == "enabled" for p in s["programs"]),
          "program HECHO listed")
    one = [c for c in s["classes"] if c["name"] == "ONE"]
    eq((len(one), one[0]["max_active"]), (1, 1), "class ONE, max active 1")
    check(isinstance(s["tasks"], list) and isinstance(s["terminals"], list), "tasks, terminals")
    eq(s["chart"]["interval_s"], 2, "chart interval")
    until(lambda: len(con.state()["chart"]["samples"]) >= 2, "the chart has samples")


def t_csrf(r, con):
    st, _, b = con.act("tran/HECHO/disable", csrf=False)
    eq((st, b["error"]), (403, "csrf"), "an action without the CSRF header")
    st, _, b = con.call("POST", "/console/api/tran/HECHO/disable", csrf="0" * 64)
    eq((st, b["error"]), (403, "csrf"), "an action with a wrong CSRF token")
    other = Console(r)
    st, _, b = con.call("POST", "/console/api/tran/HECHO/disable", csrf=other.csrf)
    eq((st, b["error"]), (403, "csrf"), "another session's token")
    eq(con.tran("HECHO")["status"], "enabled", "nothing was disabled")
    until(lambda: log_has(r, "console: operator op: POST /console/api/tran/HECHO/disable refused:"
                             " no valid CSRF token"), "the refusal is in the log")
    st, _, b = con.call("DELETE", "/console/api/session")
    eq(st, 403, "sign-off without the token")


def t_actions(r, con):
    st, _, b = con.act("tran/HECHO/disable")
    eq((st, b["action"]), (200, "SET TRAN HECHO DISABLED"), "disable HECHO")
    eq(con.tran("HECHO")["status"], "disabled", "HECHO is disabled")
    st, _, b = r.request("GET", "/echo/1", user="bob")
    eq((st, b["error"]), (503, "disabled"), "a disabled transaction's route")
    until(lambda: log_has(r, "console: operator op: SET TRAN HECHO DISABLED"), "logged")
    st, _, b = con.act("tran/HECHO/enable")
    eq((st, con.tran("HECHO")["status"]), (200, "enabled"), "enable HECHO")
    eq(r.request("GET", "/echo/1", user="bob")[0], 200, "HECHO runs again")
    until(lambda: log_has(r, "console: operator op: SET TRAN HECHO ENABLED"), "logged")

    eq(con.act("prog/HECHO/disable")[0], 200, "disable program HECHO")
    prog = lambda: next(p for p in con.state()["programs"] if p["name"] == "HECHO")["status"]
    eq(prog(), "disabled", "program HECHO is disabled")
    st, _, b = r.request("GET", "/echo/1", user="bob")
    eq((st, b["abcode"]), (500, "APCT"), "its transaction abends APCT before its code runs")
    eq(con.act("prog/HECHO/enable")[0], 200, "enable program HECHO")
    eq(prog(), "enabled", "program HECHO is enabled")
    until(lambda: log_has(r, "console: operator op: SET PROG HECHO DISABLED") and
          log_has(r, "console: operator op: SET PROG HECHO ENABLED"), "logged")

    st, _, b = con.act("class/ONE/maxactive/3")
    eq((st, b["action"]), (200, "SET CLASS ONE MAXACTIVE 3"), "class ONE max active 3")
    one = next(c for c in con.state()["classes"] if c["name"] == "ONE")
    eq(one["max_active"], 3, "class ONE now has max active 3")
    until(lambda: log_has(r, "console: operator op: SET CLASS ONE MAXACTIVE 3"), "logged")
    eq(con.act("class/ONE/maxactive/x")[0], 400, "a max active that is not a number")
    eq(con.act("class/NOSUCH/maxactive/2")[0], 404, "an unknown class")
    eq(con.act("tran/NOSUCH/disable")[0], 404, "an unknown transaction")
    eq(con.act("task/abc/purge")[0], 400, "a task number that is not a number")
    eq(con.act("task/99999999/purge")[0], 404, "an unknown task")
    eq(con.act("frobnicate")[0], 404, "an unknown action")
    eq(con.call("PUT", "/console/api/state", csrf=con.csrf)[0], 405, "a wrong method")


def t_purge(r, con):
    out = {}

    def slow():
        out["answer"] = r.request("POST", "/slow/p1?ms=600000", user="alice")

    t = threading.Thread(target=slow)
    t.start()
    task = []
    until(lambda: task.extend(x["task"] for x in con.state()["tasks"] if x["tranid"] == "HSLOW")
          or task, "the slow task is listed")
    st, _, b = con.act("task/%d/purge" % task[0])
    eq((st, b["action"]), (200, "PURGE TASK %d" % task[0]), "purge the slow task")
    t.join(WAIT_S)
    st, _, b = out["answer"]
    eq((st, b["abcode"]), (500, "AEXY"), "the purged task's client gets 500 AEXY")
    until(lambda: log_has(r, "console: operator op: PURGE TASK %d" % task[0]), "logged")


def t_signoff(r, con):
    st, h, _ = con.call("DELETE", "/console/api/session", csrf=con.csrf)
    eq(st, 200, "sign off")
    eq(con.call("GET", "/console/api/state")[0], 401, "the session is gone")


def t_api(r):
    con = Console(r)
    for case in (t_files, t_signon, t_state, t_csrf, t_actions, t_purge, t_signoff):
        case(r, con)
        print("  %s: ok" % case.__name__[2:])


# ---- The browser (chromedriver's WebDriver HTTP API) ------------------------------------

WAIT_S = th.WAIT_S
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class WebDriver:
    def __init__(self, chromedriver, chromium):
        self.port = th.free_port()
        self.proc = subprocess.Popen([chromedriver, "--port=%d" % self.port],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.profile = tempfile.mkdtemp(prefix="weft-chromium-")
        until(self.ready, "chromedriver answers")
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,960", "--user-data-dir=" + self.profile]}}}}
        self.session = self.cmd("POST", "/session", caps)["sessionId"]

    def ready(self):
        try:
            return self.cmd("GET", "/status")["ready"]
        except OSError:
            return False

    def cmd(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Content-Type": "application/json"})
        data = json.loads(c.getresponse().read())
        c.close()
        v = data.get("value")
        if isinstance(v, dict) and "error" in v:
            raise WebDriverError(v["error"], v.get("message", ""))
        return v

    def s(self, method, path, body=None):
        return self.cmd(method, "/session/%s%s" % (self.session, path), body)

    def find(self, css):
        return self.s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def quit(self):
        try:
            self.s("DELETE", "")
        except (OSError, WebDriverError):
            pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


class WebDriverError(Exception):
    def __init__(self, error, message):
        super().__init__("%s: %s" % (error, message.splitlines()[0] if message else ""))
        self.error = error


def click(wd, css):
    """Click the element css names; the page redraws its tables every poll, so
    an element gone stale between finding and clicking is found again."""
    for _ in range(20):
        try:
            wd.s("POST", "/element/%s/click" % wd.find(css), {})
            return
        except WebDriverError as e:
            if e.error not in ("stale element reference", "no such element"):
                raise
            time.sleep(0.2)
    raise AssertionError("cannot click " + css)


def dom_rows(wd, table):
    return wd.js("return Array.from(document.querySelectorAll('#%s tbody tr'))"
                 ".map(tr => Array.from(tr.cells).map(td => td.textContent));" % table)


def load(r, stop, counts):
    """Bank inquiries and the HTTP tests' echo, until stop is set."""
    while not stop.is_set():
        try:
            st = r.request("GET", "/accounts/1000", user="bob")[0]
            st2 = r.request("GET", "/echo/%d" % counts["n"], user="bob")[0]
            counts["n"] += 1
            counts["ok"] += st == 200
        except OSError:
            counts["errors"] += 1


def t_browser(r, screenshot, settle_s):
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    chromedriver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    stop, counts = threading.Event(), {"n": 0, "ok": 0, "errors": 0}
    loader = threading.Thread(target=load, args=(r, stop, counts))
    loader.start()
    wd = WebDriver(chromedriver, chromium)
    try:
        base = "http://127.0.0.1:%d/console/" % r.port
        wd.s("POST", "/url", {"url": base})
        until(lambda: wd.js("return !document.getElementById('signon-panel').hidden;"),
              "the page shows the sign-on form")
        for css, text in (("#user", "op"), ("#password", "op123")):
            wd.s("POST", "/element/%s/value" % wd.find(css), {"text": text})
        click(wd, "#signon-button")
        until(lambda: len(dom_rows(wd, "enclaves")) >= 2, "the enclave table is filled")
        until(lambda: counts["ok"] >= 20, "the load ran")
        until(lambda: any(row[0] == "DEFAULT" and int(row[6]) > 0
                          for row in dom_rows(wd, "enclaves")),
              "the enclave table shows DEFAULT's completed tasks")
        until(lambda: wd.js("return document.querySelectorAll('#legend span').length;") >= 1,
              "the chart has a line")
        if settle_s:  # only for a picture with a longer chart (docs/console.png)
            time.sleep(settle_s)
        rows = dom_rows(wd, "enclaves")
        names = [row[0] for row in rows]
        check("DEFAULT" in names and "SLOW" in names, "enclave rows: %s" % names)
        png = base64.b64decode(wd.s("GET", "/screenshot"))
        eq(png[:8], b"\x89PNG\r\n\x1a\n", "the screenshot is a PNG")
        if screenshot:
            with open(screenshot, "wb") as f:
                f.write(png)
        con = Console(r)
        click(wd, 'button[data-tran="HECHO"][data-op="disable"]')
        until(lambda: con.tran("HECHO")["status"] == "disabled", "the click disabled HECHO (API)")
        until(lambda: wd.js("return document.getElementById('message').textContent;")
              == "SET TRAN HECHO DISABLED: done", "the page says so")
        click(wd, 'button[data-tran="HECHO"][data-op="enable"]')
        until(lambda: con.tran("HECHO")["status"] == "enabled", "the click enabled HECHO (API)")
        until(lambda: log_has(r, "console: operator op: SET TRAN HECHO DISABLED") and
              log_has(r, "console: operator op: SET TRAN HECHO ENABLED"), "both are logged")
        print("  browser: %d enclave rows, screenshot %d bytes, %d requests of load"
              % (len(rows), len(png), counts["n"]))
    finally:
        stop.set()
        loader.join(WAIT_S)
        wd.quit()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="the build's bin directory")
    ap.add_argument("--screenshot", help="keep the browser's screenshot in this PNG file")
    ap.add_argument("--settle", type=float, default=0,
                    help="browser: let the load run this many seconds before the screenshot")
    ap.add_argument("group", choices=["api", "browser"])
    a = ap.parse_args()
    if a.group == "browser" and not ((shutil.which("chromium") or os.path.exists("/usr/bin/chromium"))
                                     and (shutil.which("chromedriver") or
                                          os.path.exists("/usr/bin/chromedriver"))):
        print("chromium or chromedriver is not installed (Debian: chromium chromium-driver): skipped")
        return 77
    r = th.Region(os.path.abspath(a.bin))
    try:
        if a.group == "api":
            t_api(r)
        else:
            t_browser(r, a.screenshot, a.settle)
    except Exception as e:  # report with weftd's last lines
        print("FAILED console %s: %s\n--- weftd log ---\n%s" % (a.group, e, r.tail()))
        r.stop()
        return 1
    r.stop()
    print("console %s: passed" % a.group)
    return 0


if __name__ == "__main__":
    sys.exit(main())
