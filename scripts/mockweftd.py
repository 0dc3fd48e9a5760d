#!/usr/bin/env python3
"""A mock weftd: speaks the terminal protocol of docs/terminal.md with a few
fake transactions, to test weftterm and weftload without the real region.

    python3 scripts/mockweftd.py [--port 3271] [--signon] [--delay-ms 5] ...

Transactions (at %READY):
  INQ <acct>          one-line account inquiry; acct outside 1..99999 (or not
                      a number) abends ANFD
  XFER <a> <b> <amt>  transfer; a == b abends ASME
  STMT <acct>         pseudo-conversation: 3 pages, each ending in %NEXT STMT
                      (empty line: next page, Q: quit, CANCEL: abort)
  ASK                 conversational: two %INPUT prompts (name, then colour)
  ECHO <text>         echoes text, then a line starting with '%' (sent as %%)
  FAIL                abends ASRA
  SLOW <ms>           waits ms milliseconds
  BUSY                answers %ERROR BUSY (abend AKCC)
  WEFT                operator transaction: NOT_AUTHORIZED
  SIGNON/SIGNOFF/QUIT built in; users alice/secret1, bob/secret2
Anything else: %ERROR UNKNOWN_TRAN. Every response waits a random
0..--delay-ms milliseconds first.
"""
import argparse
import asyncio
import random
import signal
import sys

USERS = {"alice": "secret1", "bob": "secret2"}


class Region:
    def __init__(self, args):
        self.args = args
        self.terminals = 0
        self.next_term = 1
        self.next_task = 1
        self.sessions = 0
        self.inputs = 0
        self.rng = random.Random(args.seed)


class Session:
    def __init__(self, region, reader, writer, termid):
        self.region = region
        self.args = region.args
        self.reader = reader
        self.writer = writer
        self.termid = termid
        self.user = None

    def send(self, line):
        self.writer.write(line.encode("ascii", "replace") + b"\r\n")

    def out(self, line):
        """Program output: a line starting with '%' is sent with it doubled."""
        if line.startswith("%"):
            line = "%" + line
        self.send(line)

    def task(self):
        n = self.region.next_task
        self.region.next_task += 1
        return n

    async def delay(self):
        if self.args.delay_ms > 0:
            await asyncio.sleep(self.region.rng.uniform(0, self.args.delay_ms) / 1000.0)

    async def readline(self, timeout):
        """One input line, or None when the connection closed, or "" when
        the idle timeout passed (then self.idle is set)."""
        self.idle = False
        try:
            raw = await asyncio.wait_for(self.reader.readuntil(b"\n"), timeout)
        except asyncio.TimeoutError:
            self.idle = True
            return None
        except asyncio.IncompleteReadError:
            return None  # closed, a partial line is dropped
        except asyncio.LimitOverrunError:
            # discard up to the end of the overlong line
            while True:
                try:
                    await self.reader.readuntil(b"\n")
                    break
                except asyncio.LimitOverrunError as e:
                    await self.reader.readexactly(e.consumed)
                except asyncio.IncompleteReadError:
                    return None
            return b"\x00TOOLONG"
        self.region.inputs += 1
        line = raw[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        return line

    def check(self, line):
        """Returns the decoded line, or None after sending an %ERROR."""
        if line == b"\x00TOOLONG" or len(line) > self.args.max_line:
            self.send("%ERROR LINE_TOO_LONG the line is longer than %d bytes" % self.args.max_line)
            return None
        if any(not (0x20 <= b <= 0x7E or b == 9) for b in line):
            self.send("%ERROR BAD_INPUT the line holds bytes other than printable ASCII")
            return None
        return line.decode("ascii")

    async def get(self):
        """A checked line at a prompt; None at the end of the session."""
        while True:
            raw = await self.readline(self.args.idle_timeout or None)
            if raw is None:
                if self.idle:
                    self.send("%BYE idle timeout")
                    await self.writer.drain()
                return None
            return raw

    async def run(self):
        self.send("%%WEFT %s TERMINAL %s" % (self.args.region, self.termid))
        self.send("Welcome to the Weft mock region. Sign on with SIGNON <user> <password>.")
        prompt = "%READY"
        nxt = None  # (tranid, state) of a pseudo-conversation
        while True:
            self.send(prompt)
            await self.writer.drain()
            raw = await self.get()
            if raw is None:
                return
            line = self.check(raw)
            if line is None:
                continue  # the same prompt again
            await self.delay()
            if nxt is not None:
                tranid, state = nxt
                nxt = None
                if line.strip().upper() == "CANCEL":
                    prompt = "%READY"
                    continue
                res = await self.stmt_next(state, line)
                if res is not None:
                    nxt = ("STMT", res)
                    prompt = "%NEXT STMT"
                else:
                    prompt = "%READY"
                continue
            words = line.lstrip(" \t").split(None, 1)
            tranid = words[0] if words else ""
            data = words[1].lstrip(" \t") if len(words) > 1 else ""
            prompt = "%READY"
            if tranid == "":
                continue
            if tranid == "QUIT":
                self.send("%BYE see you")
                await self.writer.drain()
                return
            if tranid == "SIGNON":
                if not self.args.signon:
                    self.send("%ERROR UNKNOWN_TRAN SIGNON is not a transaction")
                    continue
                parts = data.split()
                if len(parts) == 2 and USERS.get(parts[0]) == parts[1]:
                    self.user = parts[0]
                    self.send("%SIGNED ON " + self.user)
                else:
                    self.send("%ERROR SIGNON_FAILED wrong user or password")
                continue
            if tranid == "SIGNOFF":
                if not self.args.signon:
                    self.send("%ERROR UNKNOWN_TRAN SIGNOFF is not a transaction")
                    continue
                self.user = None
                self.send("%SIGNED OFF")
                continue
            handler = getattr(self, "tx_" + tranid, None) if tranid.isalpha() and tranid.isupper() else None
            if handler is None or len(tranid) > 8:
                self.send("%%ERROR UNKNOWN_TRAN %s is not defined" % tranid[:8])
                continue
            if self.args.signon and self.user is None:
                self.send("%ERROR SIGNON_REQUIRED sign on first")
                continue
            res = await handler(data)
            if res is False:
                return  # connection gone during a conversation
            if isinstance(res, tuple):
                nxt = res
                prompt = "%NEXT " + res[0]

    def abend(self, code, tranid):
        self.send("%%ERROR ABEND %s task %d (%s)" % (code, self.task(), tranid))

    async def tx_INQ(self, data):
        try:
            acct = int(data.split()[0])
        except (ValueError, IndexError):
            acct = -1
        if not 1 <= acct <= 99999:
            self.abend("ANFD", "INQ")
            return
        self.task()
        self.out("ACCOUNT %5d  %-20s  BALANCE %12s" % (acct, "Holder %d" % acct,
                                                       "{:,.2f}".format(acct * 1.25)))

    async def tx_XFER(self, data):
        p = data.split()
        try:
            a, b, amt = int(p[0]), int(p[1]), int(p[2])
        except (ValueError, IndexError):
            self.abend("AXIN", "XFER")
            return
        if a == b:
            self.abend("ASME", "XFER")
            return
        self.task()
        self.out("TRANSFERRED %d.00 FROM %d TO %d" % (amt, a, b))

    async def tx_STMT(self, data):
        try:
            acct = int(data.split()[0])
        except (ValueError, IndexError):
            self.abend("AXIN", "STMT")
            return
        self.task()
        return ("STMT", self.stmt_page(acct, 1))

    def stmt_page(self, acct, page):
        self.out("STATEMENT %d page %d" % (acct, page))
        for i in range(3):
            self.out("  2024-01-%02d  payment %d  %8.2f" % (page * 3 + i, i, (acct + i) % 97 + 0.5))
        self.out("Enter for the next page, Q to quit")
        return (acct, page)

    async def stmt_next(self, state, line):
        acct, page = state
        self.task()
        if line.strip().upper() == "Q":
            self.out("END OF STATEMENT %d" % acct)
            return None
        if page >= 3:
            self.out("NO MORE PAGES")
            return None
        return self.stmt_page(acct, page + 1)

    async def receive(self):
        """weft_receive: an %INPUT prompt and a line."""
        while True:
            self.send("%INPUT")
            await self.writer.drain()
            raw = await self.readline(self.args.receive_timeout)
            if raw is None:
                return None
            line = self.check(raw)
            if line is not None:
                return line

    async def tx_ASK(self, data):
        t = self.task()
        self.out("What is your name?")
        name = await self.receive()
        if name is None:
            if self.idle:
                self.send("%%ERROR TIMEOUT task %d (ASK) waited too long" % t)
                return
            return False
        self.out("Hello, %s. Your favourite colour?" % name)
        colour = await self.receive()
        if colour is None:
            if self.idle:
                self.send("%%ERROR TIMEOUT task %d (ASK) waited too long" % t)
                return
            return False
        self.out("%s likes %s." % (name, colour))

    async def tx_ECHO(self, data):
        self.task()
        self.out(data)
        self.out("%not a control line")

    async def tx_FAIL(self, data):
        self.out("about to fail")
        self.abend("ASRA", "FAIL")

    async def tx_SLOW(self, data):
        try:
            ms = int(data)
        except ValueError:
            ms = 100
        await asyncio.sleep(ms / 1000.0)
        self.task()
        self.out("slept %d ms" % ms)

    async def tx_BUSY(self, data):
        self.send("%ERROR BUSY the region cannot take the start now (abend AKCC)")

    async def tx_WEFT(self, data):
        self.send("%ERROR NOT_AUTHORIZED WEFT needs the operator group")


async def serve(args):
    region = Region(args)

    async def handle(reader, writer):
        if region.terminals >= args.max_terminals:
            writer.write(b"%BUSY too many terminals\r\n")
            await writer.drain()
            writer.close()
            return
        region.terminals += 1
        region.sessions += 1
        termid = "T%04d" % region.next_term
        region.next_term += 1
        s = Session(region, reader, writer, termid)
        try:
            await s.run()
        except (ConnectionError, OSError):
            pass
        finally:
            region.terminals -= 1
            try:
                writer.close()
            except Exception:
                pass

    server = await asyncio.start_server(handle, args.host, args.port, limit=args.max_line + 2,
                                        reuse_address=True)
    print("mockweftd: listening on %s:%d" % (args.host, args.port), file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    print("mockweftd: %d sessions, %d input lines" % (region.sessions, region.inputs),
          file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=3271)
    ap.add_argument("--region", default="MOCK")
    ap.add_argument("--signon", action="store_true", help="require SIGNON before transactions")
    ap.add_argument("--delay-ms", type=float, default=5, help="random delay 0..N ms per response")
    ap.add_argument("--max-terminals", type=int, default=512)
    ap.add_argument("--max-line", type=int, default=1024)
    ap.add_argument("--idle-timeout", type=float, default=0, help="seconds, 0: none")
    ap.add_argument("--receive-timeout", type=float, default=30)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
