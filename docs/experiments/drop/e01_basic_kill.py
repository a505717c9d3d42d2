# Q1/Q2: main drops the only slot reference to a suspended greenlet.
from h import *

def body(v):
    log("start %r" % (v,))
    try:
        r = sw("parent", 10)
        log("recv %r" % (r,))
    except GreenletExit as e:
        g = getcurrent()
        log("caught GreenletExit(%r); parent=%s; state(main)=%s" % (str(e), nm(g.parent), state(MAIN)))
        del g
        return "killed-value"
    return "normal"

spawn(0, "A", body)
log("recv %r" % (sw(0, 1),))
import weakref
w = weakref.ref(SLOTS[0])
drop(0)
log("weakref now -> %s" % (w(),))
log("main continues")
