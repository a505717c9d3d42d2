# An error reaching an UNSTARTED greenlet (throw into it, or an error travelling up a parent
# chain) starts it for a moment (greenlet's g_initialstub): it is the current greenlet when the
# greenlet that switched to it is released, so it is the killer of a dropper that dropped its
# own slot. Then it dies with the error without running its body.
# Case "throw": X drops its own slot g1 and throws E1 into unstarted U (slot g0, parent main).
# Case "chain": X drops its own slot g1 and raises E1; X's parent is unstarted U.
import sys
from h import *

class E1(Exception):
    pass

case = sys.argv[1]

def u_body(*a):
    log("U body runs (must not appear)")

def x_body(v):
    log("X start; drops g1 (itself)")
    drop(1)
    try:
        if case == "throw":
            th(0, E1)
        else:
            raise E1()
    except GreenletExit:
        log("X caught GreenletExit; parent=%s; U is %s" % (nm(getcurrent().parent), state(SLOTS[0])))
        return "X-ret"

spawn(0, "U", u_body)
spawn(1, "X", x_body, parent=SLOTS[0] if case == "chain" else None)
try:
    log("recv %r" % (sw(1),))
except E1:
    log("main caught E1; U is %s" % state(SLOTS[0]))
