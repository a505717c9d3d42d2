"""Shared harness for the drop experiments (greenlet 3.5.6, CPython 3.11).

Mimics a runner in which ONLY slot references (plus greenlet's own references: parent links,
the thread's current greenlet) keep a greenlet alive:
  - SLOTS[k] holds greenlets; drop(k) does SLOTS[k] = None (CPython decref happens right there).
  - names are stored on the greenlet itself (g.nm), never in a dict keyed by greenlet.
  - sw(ref, v) / th(ref, E) switch/throw through greenlet's C API (PyGreenlet_Switch /
    PyGreenlet_Throw) with a RAW POINTER, so the suspended caller's Python frame holds no
    reference to the target. ref is a slot number, 'main', 'cur', or 'parent'.
  - log() prints "[name] text" for the current greenlet.
Unraisable exceptions are printed as one line "UNRAISABLE <ExcType> in <greenlet name>" (hook).
"""
import ctypes, sys, gc
import greenlet
from greenlet import getcurrent, GreenletExit

SLOTS = [None] * 16
MAIN = getcurrent()
MAIN.nm = "main"

_api = ctypes.pythonapi.PyCapsule_GetPointer
_api.restype = ctypes.c_void_p
_api.argtypes = [ctypes.py_object, ctypes.c_char_p]
_table = ctypes.cast(_api(greenlet._C_API, b"greenlet._C_API"), ctypes.POINTER(ctypes.c_void_p))
_SWITCH = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.py_object, ctypes.c_void_p)(_table[6])
_THROW = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.py_object, ctypes.c_void_p, ctypes.c_void_p)(_table[5])


def nm(g):
    if g is None:
        return "-"
    return getattr(g, "nm", "?")


def log(text):
    print("[%s] %s" % (nm(getcurrent()), text), flush=True)


def _addr(ref):
    if ref == "main":
        return id(MAIN)
    if ref == "cur":
        return id(getcurrent())
    if ref == "parent":
        return id(getcurrent().parent)
    return id(SLOTS[ref])   # id() only: no reference kept


def sw(ref, v=None):
    """switch ref v, through the C API with a raw pointer; returns the single value."""
    return _SWITCH(_addr(ref), (v,), None)


def th(ref, exc):
    return _THROW(_addr(ref), exc, None, None)


def spawn(k, name, fn, parent=None):
    g = greenlet.greenlet(run=fn, parent=parent if parent is not None else getcurrent())
    g.nm = name
    SLOTS[k] = g


def drop(k):
    log("drop g%d (%s) refcount=%d" % (k, nm(SLOTS[k]), sys.getrefcount(SLOTS[k]) - 1))
    SLOTS[k] = None
    log("after drop g%d" % k)


def state(g):
    if g is getcurrent():
        return "running"
    if g.dead:
        return "dead"
    if g:
        return "suspended"
    return "unstarted"


def hook(u):
    print("UNRAISABLE %s(%s) in %s" % (type(u.exc_value).__name__, u.exc_value, nm(u.object) if isinstance(u.object, greenlet.greenlet) else u.object), flush=True)


sys.unraisablehook = hook
gc.disable()   # pure refcounting; every experiment states when it calls gc.collect()
