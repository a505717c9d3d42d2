# Q2: what the killed greenlet can do in its GreenletExit handler, and what the dropper sees.
# Setup: main spawns V (victim, slot 0), runs it until it suspends (switching to main).
# The dropper is main, or X (slot 2, parent main) when the case name ends in "_byX".
# A third greenlet T (slot 3) is started and suspended first for the cases that need it.
import sys, weakref
from h import *

class E1(Exception): pass
class E3(Exception): pass

case = sys.argv[1]
W = {}

def victim(v):
    log("start")
    try:
        r = sw("main", "V-suspended")
        log("resumed normally with %r" % (r,))
        return "V-normal"
    except GreenletExit:
        log("caught GreenletExit; parent=%s" % nm(getcurrent().parent))
    c = case.replace("_byX", "")
    if c == "return":
        return "V-ret"
    if c == "reraise":
        raise GreenletExit("again")
    if c == "raise_other":
        raise E3("from-handler")
    if c == "switch_parent":
        r = sw("parent", "V-to-parent")
    elif c == "switch_main":
        r = sw("main", "V-to-main")
    elif c == "switch_third":
        r = sw(3, "V-to-T")
    elif c == "spawn_child_then_switch_parent":
        spawn(5, "K", lambda *a: None, parent=getcurrent())   # K.parent = V: a real reference
        r = sw("parent", "V-to-parent")
    elif c == "drop_other":
        drop(4)
        return "V-ret"
    log("V resumed after resurrection with %r; parent=%s" % (r, nm(getcurrent().parent)))
    return "V-final"

def waiter(v):
    try:
        r = sw("main", "W-suspended")
        log("resumed with %r" % (r,))
    except GreenletExit:
        log("caught GreenletExit; parent=%s" % nm(getcurrent().parent))

def third(v):
    log("T start")
    r = sw("main", "T-suspended")
    log("T recv %r; T switches to X" % (r,))
    r = sw(2, "T-to-X")
    log("T recv %r" % (r,))

def dropper(v):
    log("X start, drops g0")
    drop(0)
    log("X continues after drop (no value)")
    return "X-done"

spawn(0, "V", victim)
log("recv %r" % (sw(0),))
W["v"] = weakref.ref(SLOTS[0])
if "third" in case:
    spawn(3, "T", third); log("recv %r" % (sw(3),))
if "drop_other" in case:
    spawn(4, "O", waiter); log("recv %r" % (sw(4),))
if case.endswith("_byX"):
    spawn(2, "X", dropper)
    try:
        log("recv %r" % (sw(2),))
    except Exception as e:
        log("caught %r" % e)
    if "switch_main" in case:
        log("X state=%s; main switches to X" % state(SLOTS[2]))
        log("recv %r" % (sw(2, "main-to-X"),))
else:
    drop(0)
g = W["v"]()
log("victim after: %s" % ("freed" if g is None else "%s, parent=%s, refcount=%d" % (state(g), nm(g.parent), sys.getrefcount(g) - 2)))
if g is not None and g:
    log("main throws GreenletExit into the leaked victim via its weakref")
    log("recv %r" % (g.throw(GreenletExit),))
    log("victim now %s" % state(g))
del g
if "spawn_child" in case:
    log("drop the child K that holds V as its parent")
    drop(5)
    g = W["v"]()
    log("victim after: %s" % ("freed" if g is None else state(g)))
    del g
log("end")
