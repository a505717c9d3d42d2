# Q3: dropping unstarted or dead greenlets; dropping the parent of the running greenlet.
import sys, weakref
from h import *

case = sys.argv[1]

def body(v):
    log("start %r (must not appear for unstarted drop)" % (v,))
    return "done"

def a(v):
    try:
        r = sw("main", "A-suspended")
        log("A resumed with %r" % (r,))
        return "A-ret"
    except GreenletExit:
        log("A caught GreenletExit; parent=%s" % nm(getcurrent().parent))

def b(v):
    log("B running; drops g0 = its parent A")
    drop(0)
    log("A is %s (kept by B.parent)" % state(getcurrent().parent))
    return "B-ret"     # goes to B's parent A

if case == "unstarted":
    spawn(0, "U", body)
    w = weakref.ref(SLOTS[0])
    drop(0)
    log("U: %s" % ("freed" if w() is None else "alive"))
elif case == "dead":
    spawn(0, "D", body); log("recv %r" % (sw(0, 1),))
    w = weakref.ref(SLOTS[0])
    drop(0)
    log("D: %s" % ("freed" if w() is None else "alive"))
elif case == "parent_of_running":
    spawn(0, "A", a); log("recv %r" % (sw(0),))
    spawn(1, "B", b, parent=SLOTS[0])
    log("recv %r" % (sw(1, "go"),))
    log("B is %s, A is %s" % (state(SLOTS[1]), state(SLOTS[1].parent)))
    drop(1)
elif case == "parent_of_running_kill_later":
    spawn(0, "A", a); log("recv %r" % (sw(0),))
    def b2(v):
        log("B running; drops g0 = its parent A, then switches to main")
        drop(0)
        sw("main", "B-suspended")
    spawn(1, "B", b2, parent=SLOTS[0])
    log("recv %r" % (sw(1, "go"),))
    log("drop B (suspended): B killed first, then its parent link to A goes")
    drop(1)
