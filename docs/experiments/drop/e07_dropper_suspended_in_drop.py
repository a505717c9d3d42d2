# Q2: the victim V, killed by X's drop, switches to main; X is now suspended INSIDE its drop.
# What happens when main then throws into X, or drops X?
import sys, weakref
from h import *

class E1(Exception): pass

case = sys.argv[1]

def victim(v):
    try:
        sw("main", "V-suspended")
    except GreenletExit:
        log("caught GreenletExit; parent=%s" % nm(getcurrent().parent))
    r = sw("main", "V-to-main")
    log("V resumed with %r" % (r,))

def dropper(v):
    log("X drops g0")
    drop(0)
    log("X continues after drop; X.parent=%s" % nm(getcurrent().parent))
    return "X-done"

spawn(0, "V", victim); log("recv %r" % (sw(0),))
wv = weakref.ref(SLOTS[0])
spawn(2, "X", dropper)
log("recv %r" % (sw(2),))
log("X state=%s" % state(SLOTS[2]))
try:
    if case == "throw_E1":
        log("main throws E1 into X")
        log("recv %r" % (th(2, E1),))
    elif case == "throw_exit":
        log("main throws GreenletExit into X")
        log("recv %r" % (th(2, GreenletExit),))
    elif case == "drop_X":
        drop(2)
except Exception as e:
    log("caught %r" % (e,))
g = wv()
log("V: %s" % ("freed" if g is None else state(g)))
del g
