# Q1: does a suspended greenlet's pending switch keep its TARGET alive?
# main switches to A, A switches to B, B drops A's slot (A is suspended; A's pending switch
# targets B; main's pending switch targets A).
# Variant "capi": all switches via the C API with raw pointers (no Python refs).
# Variant "py":   main does   g = SLOTS[0]; g.switch(1)   like today's runner (local g + the
#                 call's own stack entries keep A alive while main is suspended in it).
# Variant "pyexpr": main does SLOTS[0].switch(1) (no local; the bound call still holds A).
import sys
from h import *
variant = sys.argv[1]

def a(v):
    log("start")
    try:
        sw(1, "to-B")
        log("A resumed normally")
    except GreenletExit:
        log("A caught GreenletExit, parent=%s" % nm(getcurrent().parent))
        return "A-exit"

def b(v):
    log("start, drop A")
    drop(0)
    log("B switches to main")
    sw("main", "from-B")

spawn(0, "A", a)
spawn(1, "B", b)
if variant == "capi":
    r = sw(0, 1)
elif variant == "py":
    g = SLOTS[0]
    r = g.switch(1)
    del g
else:
    r = SLOTS[0].switch(1)
log("recv %r; refcount of A is now %s" % (r, "gone" if SLOTS[0] is None else "?"))
