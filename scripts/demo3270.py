#!/usr/bin/env python3
"""demo3270.py - the demo's 3270 step (scripts/demo.sh, docs/tour.md): s3270
runs a scripted session against the bank's TN3270 port and this prints
every screen it saw.

    demo3270.py PORT

A teller (alice) signs on, opens BANK, looks account 7 up, tries a
transfer with an unknown account (the field in error), makes it, pages
the statement forward and back, and leaves with PF3. Exit status 0 when
every screen showed what it should; 1 (and what was wrong) otherwise.
It drives s3270 with the helpers of tests/tn3270/tn3270_test.py.
"""
import os
import sys
import types

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "tn3270"))
import tn3270_test as t3  # noqa: E402  (the s3270 driver and its helpers)

SHOWN = 0


def show(title, screen):
    """Print one screen in a frame, its title above it."""
    global SHOWN
    SHOWN += 1
    print("-- screen %d: %s" % (SHOWN, title))
    print("+" + "-" * 80 + "+")
    for row in screen.split("\n"):
        print("|" + row.ljust(80)[:80] + "|")
    print("+" + "-" * 80 + "+")


def session(e):
    s = e.screen()
    show("the sign-on screen (the password field does not display)", s)
    t3.check("SIGN ON" in s, "no sign-on screen")
    s = t3.sign_on(e)
    s = t3.command(e, "BANK")
    show("BANK: the main menu", s)
    t3.check("MAIN MENU" in s, "no menu")
    s = t3.command(e, "1")
    s = t3.command(e, "7")
    show("1, then account 7: the inquiry", s)
    t3.check("Hiro Novak" in s, "no inquiry of account 7")
    s = e.enter("PF(3)")
    s = t3.command(e, "4")
    e.do('String("7")')
    e.do("MoveCursor(4,21)")
    e.do('String("99999")')
    e.do("MoveCursor(5,21)")
    s = t3.command(e, "25")
    r, c = e.cursor()
    show("4, a transfer to an unknown account: that field in error, the cursor "
         "on it (row %d, column %d)" % (r + 1, c + 1), s)
    t3.check("not found" in s and (r, c) == (4, 21), "no field in error")
    e.do("EraseEOF")
    s = t3.command(e, "8")
    show("the transfer made", s)
    t3.check("TRANSFERRED 25.00" in s, "no transfer")
    s = e.enter("PF(3)")
    s = t3.command(e, "5")
    s = t3.command(e, "7")
    show("5, then account 7: the statement, page 1", s)
    t3.check("PAGE 1" in s, "no statement")
    s = e.enter("PF(7)")
    show("PF7 on the first page", s)
    s = e.enter("PF(3)")
    s = e.enter("PF(3)")
    show("PF3 twice: the session ends", s)
    t3.check("session ended" in s, "the session did not end")


def main():
    if len(sys.argv) != 2:
        print("usage: demo3270.py PORT")
        return 2
    region = types.SimpleNamespace(tn_port=int(sys.argv[1]))
    e = t3.connect(region, "3279-2-E")
    try:
        session(e)
    except t3.Fail as f:
        print("demo3270: %s" % f)
        return 1
    finally:
        e.quit()
    print("demo3270: %d screens, each as expected" % SHOWN)
    return 0


if __name__ == "__main__":
    sys.exit(main())
