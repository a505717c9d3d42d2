# Q1: a RUNNING greenlet drops the only slot holding itself. The thread's "current" reference
# keeps it alive; the last reference goes when it switches away (becomes suspended).
import sys
from h import *

class E3(Exception):
    pass

case = sys.argv[1]

def b(v):
    log("B start %r" % (v,))
    log("B recv %r" % (sw("main", "B-to-main"),))

def a(v):
    log("start %r" % (v,))
    drop(0)
    log("still running after dropping itself: %s" % state(getcurrent()))
    try:
        if case == "switch_main":
            r = sw("main", "A-to-main")
        elif case == "switch_unstarted":
            r = sw(1, "A-to-B")
        elif case == "switch_suspended":
            r = sw(1, "A-to-B")
        elif case == "throw_main":
            r = th("main", E3)
        elif case == "switch_self":
            r = sw("cur", "A-to-A")
        elif case == "finish":
            return "A-done"
        log("switch returned %r" % (r,))
        return "A-end"
    except GreenletExit:
        log("caught GreenletExit, parent=%s" % nm(getcurrent().parent))
        return "A-exit"

spawn(0, "A", a)
spawn(1, "B", b)
if case == "switch_suspended":
    log("recv %r" % (sw(1, "start-B"),))
try:
    log("recv %r" % (sw(0, "start-A"),))
except E3:
    log("caught E3")
if case == "switch_unstarted":
    log("B state %s" % state(SLOTS[1]))
    log("recv %r" % (sw(1, "main-to-B"),))
log("end")
