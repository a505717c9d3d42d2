# Q1: which references keep a suspended greenlet alive when its slot is dropped.
import sys
from h import *

def waiter(v):
    try:
        sw("main", "susp-" + nm(getcurrent()))
        log("resumed normally")
    except GreenletExit:
        log("killed: caught GreenletExit, parent=%s" % nm(getcurrent().parent))

def quick(v):
    log("start; returns at once")
    return "q"

case = sys.argv[1]
if case == "two_slots":
    spawn(0, "A", waiter); log("recv %r" % sw(0))
    SLOTS[1] = SLOTS[0]
    drop(0)
    log("A still alive: %s" % state(SLOTS[1]))
    drop(1)
elif case == "parent_of_unstarted":
    spawn(0, "A", waiter); log("recv %r" % sw(0))
    spawn(1, "C", quick, parent=SLOTS[0])
    drop(0)
    log("C.parent=%s state=%s" % (nm(SLOTS[1].parent), state(SLOTS[1].parent)))
    drop(1)   # C unstarted: freed; releases its parent ref to A -> A killed now
elif case == "parent_of_suspended":
    spawn(0, "A", waiter); log("recv %r" % sw(0))
    spawn(1, "C", waiter, parent=SLOTS[0]); log("recv %r" % sw(1))
    drop(0)
    log("A alive via C.parent: %s" % state(SLOTS[1].parent))
    drop(1)   # C killed first (its parent := main during the kill), then C freed -> A killed
elif case == "parent_of_dead":
    spawn(0, "A", waiter); log("recv %r" % sw(0))
    spawn(1, "C", quick)                      # parent main
    log("recv %r" % (sw(1),))                 # C runs to its end: dead
    SLOTS[1].parent = SLOTS[0]                # a dead greenlet can be reparented
    log("C state=%s parent=%s; A state=%s" % (state(SLOTS[1]), nm(SLOTS[1].parent), state(SLOTS[0])))
    drop(0)
    log("A alive via dead C's parent link: %s" % state(SLOTS[1].parent))
    drop(1)   # C dead: freed silently; its parent link goes -> A killed
elif case == "reparent_releases":
    spawn(0, "A", waiter); log("recv %r" % sw(0))
    spawn(1, "C", quick, parent=SLOTS[0])
    drop(0)
    log("reparent C main")
    SLOTS[1].parent = MAIN   # the last reference to A was C's parent link -> A killed here
    log("after reparent")
