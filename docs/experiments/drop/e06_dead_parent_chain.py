# Q4/Q5: the victim's parent chain passes through dead greenlets; its parent during the kill is
# the dropper; after a resurrection its old parent is restored.
import sys, weakref
from h import *

case = sys.argv[1]

def quick(v):
    return "D-done"

def victim(v):
    log("start; parent=%s" % nm(getcurrent().parent))
    try:
        sw("main", "V-suspended")
    except GreenletExit:
        log("caught GreenletExit; parent=%s (old parent restored later)" % nm(getcurrent().parent))
    if case == "return":
        return "V-ret"
    r = sw("parent", "V-to-parent")
    log("resumed with %r; parent=%s" % (r, nm(getcurrent().parent)))
    return "V-final"

spawn(1, "D", quick); log("recv %r" % (sw(1),))           # D dead, parent main
spawn(0, "V", victim, parent=SLOTS[1])                    # V.parent = dead D
log("recv %r" % (sw(0),))   # starting V: V's parent D is dead, so this start is fine
w = weakref.ref(SLOTS[0])
drop(0)
g = w()
log("victim after: %s" % ("freed" if g is None else "%s, parent=%s" % (state(g), nm(g.parent))))
if g is not None:
    log("main switches to leaked V via weakref")
    log("recv %r (V's return went up V's restored chain D(dead) -> main)" % (g.switch("main-to-V"),))
    log("V now %s" % state(g))
del g
