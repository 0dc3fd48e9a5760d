#!/usr/bin/env python3
"""tn3270_test.py - end-to-end tests of weftd's TN3270 server, driven by a
real 3270 emulator (s3270) and by raw sockets for the misbehaving clients.

    tn3270_test.py BIN_DIR CASE

BIN_DIR holds weftd.exe, bank.dll and bank.wrd (the build's runtime output
directory). Each CASE starts its own weftd under wine on free loopback
ports (a line port and a TN3270 port) in a fresh temporary directory,
runs, and stops weftd by its pid (SHUTDOWN on its console first). Exit
status 0 when the case passed; what failed is printed. ctest runs one
entry per case (tests/CMakeLists.txt). Python standard library only.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BIN = None
DEADLINE = 60.0  # seconds any single wait may take (a busy 2-CPU machine)


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- weftd -------------------------------------------------------------------

class Region:
    """weftd on bank.wrd with free ports and the given REGION attributes."""

    def __init__(self, extra="", greeting=None, signon=True):
        self.dir = tempfile.mkdtemp(prefix="weft3270-")
        self.port = free_port()
        self.tn_port = free_port()
        text = open(os.path.join(BIN, "bank.wrd")).read()
        region = "REGION name=BANK workers=2 signon=%s listen=127.0.0.1:%d tn3270_listen=127.0.0.1:%d %s" % (
            "yes" if signon else "no", self.port, self.tn_port, extra)
        if greeting is not None:
            region += ' greeting="%s"' % greeting
        text = re.sub(r"^REGION .*$", region, text, count=1, flags=re.M)
        # The bank's HTTP listener on a free port too (8080 may be taken).
        text = re.sub(r"^(HTTP listen=127\.0\.0\.1:)\d+", r"\g<1>%d" % free_port(), text,
                      count=1, flags=re.M)
        text = text.replace("dll=bank.dll", "dll=" + os.path.join(BIN, "bank.dll"))
        self.wrd = os.path.join(self.dir, "t.wrd")
        open(self.wrd, "w").write(text)
        self.log_path = os.path.join(self.dir, "weftd.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["wine", os.path.join(BIN, "weftd.exe"), self.wrd],
                                     stdin=subprocess.PIPE, stdout=self.log, stderr=self.log,
                                     cwd=self.dir)
        self.wait_log("ready: listening")

    def text(self):
        return open(self.log_path, errors="replace").read()

    def wait_log(self, what, timeout=DEADLINE):
        end = time.time() + timeout
        while time.time() < end:
            if what in self.text():
                return
            if self.proc.poll() is not None:
                raise Fail("weftd exited (%s) before '%s':\n%s" % (self.proc.returncode, what, self.text()))
            time.sleep(0.1)
        raise Fail("weftd's log never said '%s':\n%s" % (what, self.text()))

    def stop(self):
        try:
            self.proc.stdin.write(b"SHUTDOWN IMMEDIATE\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()  # by its pid
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- s3270 ---------------------------------------------------------------------

class Emulator:
    """s3270 on a pipe: one action a call; data lines and the status back."""

    def __init__(self, model="3278-2", codepage="cp037"):
        self.p = subprocess.Popen(["s3270", "-model", model, "-codepage", codepage],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, bufsize=1)

    def do(self, action, ok=True):
        self.p.stdin.write(action + "\n")
        self.p.stdin.flush()
        data = []
        while True:
            line = self.p.stdout.readline()
            if line == "":
                raise Fail("s3270 ended during %s" % action)
            line = line.rstrip("\n")
            if line.startswith("data: "):
                data.append(line[6:])
            elif line in ("ok", "error"):
                if ok and line == "error":
                    raise Fail("s3270 %s failed: %s" % (action, "\n".join(data)))
                self.status = status
                return data
            else:
                status = line

    def screen(self):
        return "\n".join(self.do("Ascii()"))

    def enter(self, key="Enter"):
        self.do(key)
        self.do("Wait(%d,Unlock)" % DEADLINE)
        return self.screen()

    def cursor(self):
        r, c = self.do("Query(Cursor)")[0].split()
        return int(r), int(c)

    def rows(self):
        return int(self.status.split()[6])

    def quit(self):
        try:
            self.do("Quit", ok=False)
        except Fail:
            pass
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def connect(region, model="3278-2", tn3270e=True, codepage="cp037"):
    e = Emulator(model, codepage)
    host = "127.0.0.1:%d" % region.tn_port
    e.do("Connect(%s%s)" % ("" if tn3270e else "N:", host))
    e.do("Wait(%d,InputField)" % DEADLINE)
    return e


def sign_on(e, user="alice", pw="alice123"):
    s = e.screen()
    check("SIGN ON" in s, "no sign-on screen:\n" + s)
    e.do('String("%s")' % user)
    e.do("MoveCursor(7,21)")
    e.do('String("%s")' % pw)
    s = e.enter()
    check("SIGNED ON %s" % user in s, "not signed on:\n" + s)
    return s


def command(e, text):
    e.do('String("%s")' % text)
    return e.enter()


# ---- Raw TN3270E clients -----------------------------------------------------------

def raw_connect(region):
    s = socket.create_connection(("127.0.0.1", region.tn_port), timeout=DEADLINE)
    return s


def raw_negotiate(s, model="IBM-3278-2"):
    """WILL TN3270E, DEVICE-TYPE REQUEST, FUNCTIONS REQUEST in one go; read
    until the first screen (IAC EOR)."""
    s.sendall(b"\xff\xfb\x28" + b"\xff\xfa\x28\x02\x07" + model.encode() + b"\xff\xf0" +
              b"\xff\xfa\x28\x03\x07\xff\xf0")
    return read_until(s, b"\xff\xef")


def read_until(s, marker):
    buf = b""
    end = time.time() + DEADLINE
    while marker not in buf:
        if time.time() > end:
            raise Fail("no %r from the server; got %r" % (marker, buf[-80:]))
        chunk = s.recv(65536)
        if not chunk:
            raise Fail("the server closed; got %r" % buf[-80:])
        buf += chunk
    return buf


def closed_by_server(s):
    """True when the server closes the connection (reads what it sends)."""
    end = time.time() + DEADLINE
    s.settimeout(DEADLINE)
    try:
        while time.time() < end:
            if not s.recv(65536):
                return True
    except (ConnectionResetError, ConnectionAbortedError):
        return True
    return False


def record(data):
    """A TN3270E 3270-DATA record: header, data (FF doubled), IAC EOR."""
    return b"\x00\x00\x00\x00\x00" + data.replace(b"\xff", b"\xff\xff") + b"\xff\xef"


def working_session(region):
    """After a bad client: a normal s3270 session still signs on and runs INQ."""
    e = connect(region)
    try:
        if "SIGN ON" in e.screen():
            sign_on(e)
        s = command(e, "INQ 7")
        check("ACCOUNT 7" in s, "INQ after the bad client:\n" + s)
    finally:
        e.quit()


# ---- Cases --------------------------------------------------------------------------

def case_tn3270e_model2(r):
    e = connect(r, "3278-2")
    try:
        check(e.rows() == 24, "model 2: %d rows" % e.rows())
        s = e.screen()
        check("Terminal TC0001" in s and "IBM-3278-2" in s, "device name and type:\n" + s)
        sign_on(e)
        check(e.cursor() == (23, 5), "cursor on the input line: %r" % (e.cursor(),))
        s = command(e, "INQ 7")
        check("ACCOUNT 7" in s and "BALANCE" in s and "READY" in s, "INQ 7:\n" + s)
    finally:
        e.quit()
    r.wait_log("connected (IBM-3278-2-E, TN3270E)")


def case_tn3270_model4(r):
    e = connect(r, "3279-4-E", tn3270e=False)
    try:
        sign_on(e)
        check(e.rows() == 43, "model 4: %d rows" % e.rows())
        check(e.cursor() == (42, 5), "cursor on the last of 43 lines: %r" % (e.cursor(),))
        s = command(e, "INQ 7")
        check("ACCOUNT 7" in s, "INQ 7 on model 4:\n" + s)
    finally:
        e.quit()
    r.wait_log("connected (IBM-3279-4-E, TN3270)")


def case_password_nondisplay(r):
    e = connect(r)
    try:
        e.do('String("alice")')
        e.do("MoveCursor(7,21)")
        e.do('String("alice123")')
        s = e.screen()
        check("alice123" not in s, "the password shows:\n" + s)
        buf = "\n".join(e.do("ReadBuffer(Ascii)"))
        check(re.search(r"SF\(c0=(4c|cd)\) 61 6c 69 63 65 31 32 33", buf),
              "alice123 is not in a non-display field (attribute 4C, CD modified):\n" + buf)
        s = e.enter()
        check("SIGNED ON alice" in s, "sign-on:\n" + s)
    finally:
        e.quit()


def case_signon_refused(r):
    e = connect(r)
    try:
        e.do('String("alice")')
        e.do("MoveCursor(7,21)")
        e.do('String("wrong")')
        s = e.enter()
        check("Wrong user or password" in s and "SIGN ON" in s, "refusal:\n" + s)
        check(e.cursor() == (5, 21), "cursor back on the user: %r" % (e.cursor(),))
    finally:
        e.quit()


def case_codepage_037(r):
    # Outbound: the greeting's brackets are 0xBA 0xBB; inbound: a typed
    # "[" reaches the region as "[" (the sign-on refusal logs the user).
    e = connect(r)
    try:
        e.do('String("[x]")')
        e.do("MoveCursor(7,21)")
        e.do('String("pw")')
        e.enter()
    finally:
        e.quit()
    r.wait_log("sign-on refused for user '[x]'")


def case_codepage_037_out(r):
    e = connect(r)
    try:
        s = e.screen()
        check("[Weft] {bank}" in s, "the greeting's brackets:\n" + s)
        buf = " ".join(e.do("ReadBuffer(Ebcdic)"))
        check("ba e6 85 86 a3 bb" in buf, "[Weft] as CP037 bytes BA ... BB:\n" + buf)
    finally:
        e.quit()


def case_text_keys(r):
    e = connect(r)
    try:
        sign_on(e)
        s = e.enter("PA(1)")
        check("That key does nothing here" in s, "PA1 at READY:\n" + s)
        s = e.enter("PF(5)")
        check("That key does nothing here" in s, "PF5 at READY:\n" + s)
        s = e.enter("Clear")
        check("READY" in s and "SIGNED ON" not in s, "Clear at READY:\n" + s)
        s = command(e, "NOSUCH")
        check("ERROR UNKNOWN_TRAN" in s, "unknown tranid:\n" + s)
    finally:
        e.quit()


def case_bank_screens(r):
    e = connect(r, "3279-2-E")  # a colour terminal: red shows in the buffer
    try:
        sign_on(e)
        s = command(e, "BANK")
        check("MAIN MENU" in s and "alice at TC0001" in s, "the menu:\n" + s)
        check(e.cursor() == (9, 22), "cursor on the option: %r" % (e.cursor(),))
        # A field in error: red, reversed, cursor on it, a message, alarm.
        s = command(e, "9")
        check("Choose an option: 1 to 7" in s, "bad option:\n" + s)
        check(e.cursor() == (9, 22), "cursor on the option in error: %r" % (e.cursor(),))
        buf = "\n".join(e.do("ReadBuffer(Ascii)"))
        check("41=f2" in buf and "42=f2" in buf, "reverse red field:\n" + buf)
        s = e.enter("PA(2)")
        check("PA keys do nothing here" in s, "PA2 on the menu:\n" + s)
        # Inquiry.
        s = command(e, "1")
        check("ACCOUNT INQUIRY" in s, "inquiry screen:\n" + s)
        s = command(e, "7")
        check("Hiro Novak" in s and "1,639.90" in s, "inquiry of 7:\n" + s)
        e.do("MoveCursor(3,21)")
        e.do("EraseEOF")
        s = command(e, "99999")
        check("ERROR: account 99999 not found" in s, "unknown account:\n" + s)
        check(e.cursor() == (3, 21), "cursor on the account in error: %r" % (e.cursor(),))
        s = e.enter("PF(3)")
        check("MAIN MENU" in s, "PF3 back to the menu:\n" + s)
        # Deposit: two fields, the amount in error, then posted.
        s = command(e, "2")
        check("DEPOSIT" in s, "deposit screen:\n" + s)
        e.do('String("7")')
        e.do("MoveCursor(5,21)")
        s = command(e, "1x")
        check("bad amount" in s and e.cursor() == (5, 21), "bad amount:\n%s\n%r" % (s, e.cursor()))
        e.do("MoveCursor(5,21)")
        e.do("EraseEOF")
        s = command(e, "10.50")
        check("DEPOSITED 10.50 TO ACCOUNT 7  NEW BALANCE 1,650.40" in s, "deposit:\n" + s)
        s = e.enter("Clear")
        check("MAIN MENU" in s, "Clear to the menu:\n" + s)
        # Withdrawal refused: more than the balance.
        s = command(e, "3")
        e.do('String("7")')
        e.do("MoveCursor(5,21)")
        s = command(e, "99999")
        check("REFUSED: insufficient funds" in s, "overdraft:\n" + s)
        s = e.enter("PF(3)")
        s = e.enter("PF(3)")
        check("session ended" in s and "READY" in s, "PF3 ends:\n" + s)
        s = command(e, "INQ 7")
        check("BALANCE         1,650.40" in s, "line-mode INQ sees the deposit:\n" + s)
    finally:
        e.quit()


def row_buffer(e, row):
    """ReadBuffer's line for a 0-based row: SF(...) orders with their
    extended attributes (41= highlighting, 42= colour) and the data."""
    return e.do("ReadBuffer(Ascii)")[row]


def line_session(r):
    """A signed-on line terminal for setting up data."""
    line = socket.create_connection(("127.0.0.1", r.port), timeout=DEADLINE)
    read_until(line, b"%READY")  # the greeting
    check(b"SIGNED ON bob" in line_cmd(line, "SIGNON bob bob123"), "line sign-on")
    end = time.time() + DEADLINE
    while b"ACCOUNT 1000" not in line_cmd(line, "INQ 1000"):  # the STARTUP seed (BSED 1000)
        check(time.time() < end, "the seed never finished")
        time.sleep(0.2)
    return line


def line_cmd(line, text):
    """One line-mode input; its output up to the server's %READY."""
    line.sendall(text.encode() + b"\r\n")
    return read_until(line, b"%READY")


def menu_option(e, opt):
    s = command(e, "BANK")
    check("MAIN MENU" in s and "7  Audit" in s, "the menu:\n" + s)
    return command(e, opt)


def case_bank_transfer(r):
    e = connect(r, "3279-2-E")
    try:
        sign_on(e)
        s = menu_option(e, "4")
        check("TRANSFER" in s and e.cursor() == (3, 21), "transfer screen:\n%s\n%r" % (s, e.cursor()))
        # A bad amount: the cursor on it, the field red and reversed, the
        # other two not.
        e.do('String("7")')
        e.do("MoveCursor(4,21)")
        e.do('String("8")')
        e.do("MoveCursor(5,21)")
        s = command(e, "1x")
        check("ERROR: bad amount '1x'" in s, "bad amount:\n" + s)
        check(e.cursor() == (5, 21), "cursor on the amount: %r" % (e.cursor(),))
        amt = row_buffer(e, 5)
        check("41=f2" in amt and "42=f2" in amt, "amount red and reversed:\n" + amt)
        check("41=f2" not in row_buffer(e, 3) and "41=f2" not in row_buffer(e, 4),
              "only the amount in error")
        # An unknown account to transfer to: the cursor on the second field.
        e.do("MoveCursor(4,21)")
        e.do("EraseEOF")
        e.do('String("99999")')
        e.do("MoveCursor(5,21)")
        e.do("EraseEOF")
        s = command(e, "25")
        check("ERROR: account 99999 not found" in s, "unknown to-account:\n" + s)
        check(e.cursor() == (4, 21), "cursor on the to-account: %r" % (e.cursor(),))
        to = row_buffer(e, 4)
        check("41=f2" in to and "42=f2" in to, "to-account red and reversed:\n" + to)
        # A bad from-account (not digits... 0 is not an account).
        e.do("MoveCursor(3,21)")
        e.do("EraseEOF")
        s = command(e, "0")
        check("ERROR: the account to transfer from is 1 to 8 digits" in s, "bad from:\n" + s)
        check(e.cursor() == (3, 21), "cursor on the from-account: %r" % (e.cursor(),))
        # To itself: refused, the cursor on the to-account.
        e.do("EraseEOF")
        e.do('String("7")')
        e.do("MoveCursor(4,21)")
        e.do("EraseEOF")
        s = command(e, "7")
        check("REFUSED: cannot transfer from account 7 to itself" in s, "to itself:\n" + s)
        check(e.cursor() == (4, 21), "cursor on the to-account: %r" % (e.cursor(),))
        # More than the balance: the amount in error.
        e.do("EraseEOF")
        e.do('String("8")')
        e.do("MoveCursor(5,21)")
        e.do("EraseEOF")
        s = command(e, "99999")
        check("REFUSED: insufficient funds in account 7" in s and e.cursor() == (5, 21),
              "overdraft:\n%s\n%r" % (s, e.cursor()))
        # Done: one unit of work over both accounts.
        e.do("EraseEOF")
        s = command(e, "25")
        check("TRANSFERRED 25.00 FROM 7 (NOW 1,614.90) TO 8" in s, "transfer:\n" + s)
        check("41=f2" not in row_buffer(e, 5), "no field in error after the transfer")
        s = e.enter("PA(1)")
        check("PA keys do nothing here" in s, "PA1 on the transfer screen:\n" + s)
        s = e.enter("PF(3)")
        check("MAIN MENU" in s, "PF3 back to the menu:\n" + s)
        s = e.enter("PF(3)")
        s = command(e, "INQ 7")
        check("BALANCE         1,614.90" in s, "line-mode INQ sees the transfer:\n" + s)
    finally:
        e.quit()


def case_bank_statement(r):
    line = line_session(r)
    e = connect(r, "3279-2-E")
    try:
        for i in range(11):  # account 7: the opening entry and 11 deposits
            out = line_cmd(line, "DEP 7 1.%02d" % (i + 1))
            check(b"NEW BALANCE" in out, "DEP on the line terminal: %r" % out)
        sign_on(e)
        s = menu_option(e, "5")
        check("STATEMENT" in s and e.cursor() == (2, 21), "statement screen:\n%s\n%r" % (s, e.cursor()))
        s = e.enter("PF(8)")
        check("ERROR: enter an account number first" in s, "PF8 before an account:\n" + s)
        s = command(e, "7")
        check("Hiro Novak" in s and "PAGE 1" in s, "page 1:\n" + s)
        check(re.search(r"\b1  OPENING BALANCE", s) and re.search(r"\b5  DEPOSIT .*1\.04", s)
              and not re.search(r"\b6  DEPOSIT", s), "entries 1-5:\n" + s)
        check("PF8: more entries follow" in s, "more follow:\n" + s)
        s = e.enter("PF(8)")
        check("PAGE 2" in s and re.search(r"\b6  DEPOSIT", s) and re.search(r"\b10  DEPOSIT", s)
              and not re.search(r"\b11  DEPOSIT", s), "page 2:\n" + s)
        s = e.enter("PF(8)")
        check("PAGE 3" in s and re.search(r"\b12  DEPOSIT .*1\.11 .*1,651\.56", s)
              and "END OF STATEMENT" in s, "page 3 (the last):\n" + s)
        s = e.enter("PF(8)")
        check("PAGE 3" in s and "END OF STATEMENT: no more entries" in s
              and re.search(r"\b11  DEPOSIT", s), "PF8 past the end:\n" + s)
        s = e.enter("PF(7)")
        check("PAGE 2" in s and re.search(r"\b6  DEPOSIT", s), "back to page 2:\n" + s)
        s = e.enter("PF(7)")
        check("PAGE 1" in s and re.search(r"\b1  OPENING BALANCE", s), "back to page 1:\n" + s)
        s = e.enter("PF(7)")
        check("PAGE 1" in s and "ALREADY AT THE FIRST PAGE" in s, "PF7 at the first page:\n" + s)
        s = e.enter("PA(1)")
        check("PA keys do nothing here" in s and re.search(r"\b1  OPENING BALANCE", s),
              "PA1 keeps the page:\n" + s)
        s = e.enter("PF(5)")
        check("use Enter, PF7, PF8 or PF3" in s and "PAGE 1" in s, "PF5 keeps the page:\n" + s)
        e.do("MoveCursor(2,21)")
        e.do("EraseEOF")
        s = command(e, "99999")
        check("ERROR: account 99999 not found" in s and e.cursor() == (2, 21),
              "unknown account:\n%s\n%r" % (s, e.cursor()))
        s = e.enter("PF(3)")
        check("MAIN MENU" in s, "PF3 back to the menu:\n" + s)
    finally:
        line.close()
        e.quit()


def case_bank_open_audit(r):
    e = connect(r, "3279-2-E")
    try:
        sign_on(e, "bob", "bob123")  # a teller and an auditor
        s = menu_option(e, "6")
        check("OPEN AN ACCOUNT" in s and e.cursor() == (3, 21), "open screen:\n" + s)
        s = e.enter()
        check("ERROR: a name is 1 to 30 printable characters" in s and e.cursor() == (3, 21),
              "no name:\n%s\n%r" % (s, e.cursor()))
        e.do('String("Zoe Tester")')
        e.do("MoveCursor(5,21)")
        s = command(e, "5.555")
        check("ERROR: bad amount" in s and e.cursor() == (5, 21), "bad deposit:\n" + s)
        e.do("EraseEOF")
        s = command(e, "50")
        m = re.search(r"ACCOUNT (\d+) OPENED FOR Zoe Tester  BALANCE 50.00", s)
        check(m, "opened:\n" + s)
        no = m.group(1)
        check("Account opened . . %s " % no in s, "its number:\n" + s)
        s = e.enter("PF(3)")
        s = command(e, "7")
        check("AUDIT" in s and "Enter: run the audit" in s, "the audit screen:\n" + s)
        s = e.enter()
        check("AUDIT OK accounts=%s" % no in s, "the audit:\n" + s)
        check("deposits 50.00" in s, "the audit's figures:\n" + s)
        check("42=f4" in row_buffer(e, 3), "the verdict green:\n" + row_buffer(e, 3))
        s = e.enter("PA(3)")
        check("PA keys do nothing here" in s and "AUDIT OK" in s, "PA3 keeps the report:\n" + s)
        s = e.enter()
        check("AUDIT OK accounts=%s" % no in s and "PA keys" not in s, "audit again:\n" + s)
        s = e.enter("Clear")
        check("MAIN MENU" in s, "Clear to the menu:\n" + s)
        s = e.enter("PF(3)")
        s = command(e, "INQ %s" % no)
        check("Zoe Tester" in s and "50.00" in s, "line-mode INQ of the new account:\n" + s)
    finally:
        e.quit()
    # A teller who is not an auditor gets the audit screen but not the audit.
    e = connect(r, "3279-2-E")
    try:
        sign_on(e)
        s = menu_option(e, "7")
        check("Enter: run the audit" in s, "the audit screen:\n" + s)
        s = e.enter()
        check("NOT_AUTHORIZED" in s and "AUDIT OK" not in s, "alice may not audit:\n" + s)
    finally:
        e.quit()


def case_line_and_3270(r):
    e = connect(r)
    line = socket.create_connection(("127.0.0.1", r.port), timeout=DEADLINE)
    try:
        sign_on(e)
        line.sendall(b"SIGNON op op123\r\n")
        read_until(line, b"SIGNED ON op")
        line.sendall(b"INQ 7\r\n")
        got = read_until(line, b"BALANCE")
        s = command(e, "INQ 7")
        check("ACCOUNT 7" in s, "3270 INQ while a line terminal works:\n" + s)
        line.sendall(b"WEFT INQ TERMINALS\r\n")
        got = read_until(line, b"terminal(s)").decode(errors="replace")
        check(re.search(r"TERMINAL TC0001 +USER alice .*DEVICE 3270-2 IBM-3278-2-E", got),
              "INQ TERMINALS:\n" + got)
        check("2 terminal(s)" in got, "both terminals counted:\n" + got)
    finally:
        line.close()
        e.quit()


def case_disconnect_mid_task(r):
    e = connect(r)
    try:
        sign_on(e)
        s = command(e, "OPEN")
        check("INPUT" in s, "OPEN asks:\n" + s)
    finally:
        e.p.kill()  # the emulator vanishes while OPEN waits for its answer
        e.p.wait()
    r.wait_log("abended ATNI")
    working_session(r)
    e = connect(r)
    try:
        sign_on(e, "bob", "bob123")
        s = command(e, "AUDT")
        check("AUDIT OK" in s, "audit after the abend:\n" + s)
    finally:
        e.quit()


def case_bad_garbage(r):
    s = raw_connect(r)
    s.recv(3)  # IAC DO TN3270E
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    check(closed_by_server(s), "garbage before negotiation: not closed")
    s.close()
    r.wait_log("data before the negotiation ended: closed")
    working_session(r)


def case_bad_iac(r):
    s = raw_connect(r)
    s.sendall(b"\xff\xfb\x28\xff\xfa\x28\x02\x07IBM\xff\x41")
    check(closed_by_server(s), "broken subnegotiation: not closed")
    s.close()
    r.wait_log("a broken subnegotiation")
    working_session(r)


def case_bad_oversized(r):
    s = raw_connect(r)
    raw_negotiate(s)
    s.sendall(b"\x00\x00\x00\x00\x00" + b"\x7d\x40\x40" + b"\x40" * 2000 + b"\xff\xef")
    check(closed_by_server(s), "oversized record: not closed")
    s.close()
    r.wait_log("an inbound record is longer than the limit")
    working_session(r)


def case_bad_record_and_eor_missing(r):
    s = raw_connect(r)
    raw_negotiate(s)
    s.sendall(record(b"\x01\x40\x40"))  # an unknown AID: refused, the session lives
    got = read_until(s, b"\xff\xef")
    check(b"\xc5\xd9\xd9\xd6\xd9" in got, "no ERROR on the screen for an unknown AID")
    s.sendall(record(b"\x6d"))  # Clear still answers
    read_until(s, b"\xff\xef")
    s.sendall(b"\x00\x00\x00\x00\x00\x7d\x40")  # a record without EOR, then close
    s.close()
    r.wait_log("sent a bad 3270 record (unknown AID)")
    working_session(r)


def case_bad_never_sends(r):
    s = raw_connect(r)
    raw_negotiate(s)  # then nothing: the idle timeout closes it
    check(closed_by_server(s), "a silent client: not closed")
    s.close()
    r.wait_log("idle for 2 s: closed")
    working_session(r)


def case_bad_never_reads(r):
    s = raw_connect(r)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw_negotiate(s)
    enter = record(b"\x7d\x40\x40")  # an empty sign-on: the screen again, ~25 times its size
    s.settimeout(1.0)
    end = time.time() + DEADLINE
    try:
        while time.time() < end and "does not read its output" not in r.text():
            s.sendall(enter * 100)
    except (socket.timeout, BrokenPipeError, ConnectionResetError):
        pass
    r.wait_log("does not read its output")
    s.close()
    working_session(r)


CASES = {
    "tn3270e_model2": (case_tn3270e_model2, {}),
    "tn3270_model4": (case_tn3270_model4, {}),
    "password": (case_password_nondisplay, {}),
    "signon_refused": (case_signon_refused, {}),
    "codepage_in": (case_codepage_037, {}),
    "codepage_out": (case_codepage_037_out, {"greeting": "[Weft] {bank}", "signon": False}),
    "text_keys": (case_text_keys, {}),
    "bank_screens": (case_bank_screens, {}),
    "bank_transfer": (case_bank_transfer, {}),
    "bank_statement": (case_bank_statement, {}),
    "bank_open_audit": (case_bank_open_audit, {}),
    "line_and_3270": (case_line_and_3270, {}),
    "disconnect": (case_disconnect_mid_task, {}),
    "bad_garbage": (case_bad_garbage, {}),
    "bad_iac": (case_bad_iac, {}),
    "bad_oversized": (case_bad_oversized, {"extra": "tn3270_max_record=1024"}),
    "bad_record": (case_bad_record_and_eor_missing, {"signon": False}),
    "bad_never_sends": (case_bad_never_sends, {"extra": "idle_timeout=2"}),
    "bad_never_reads": (case_bad_never_reads, {}),
}


def main():
    global BIN
    if len(sys.argv) != 3 or sys.argv[2] not in CASES:
        print("usage: tn3270_test.py BIN_DIR {%s}" % "|".join(CASES))
        return 2
    if shutil.which("s3270") is None:
        print("s3270 is not installed (./build.sh deps installs it)")
        return 1
    BIN = sys.argv[1]
    fn, opts = CASES[sys.argv[2]]
    r = Region(**opts)
    try:
        fn(r)
    except Fail as f:
        print("FAIL %s: %s" % (sys.argv[2], f))
        print("--- weftd log ---\n" + r.text())
        return 1
    finally:
        r.stop()
    print("PASS %s" % sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
