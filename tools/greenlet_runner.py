#!/usr/bin/env python3
"""Runs greenlet programs (see ../docs/language.md, "the spec") on the REAL
CPython `greenlet` package and prints their traces: the reference side of the differential
tester.

Usage:
  greenlet_runner.py FILE...   parse every FILE (exit 2 with FILE:LINE:COL: message on stderr
                               if one is invalid; nothing runs then), then run each and print its
                               trace; with several files each trace is preceded by "== FILE".
  greenlet_runner.py --batch   read programs from stdin, each terminated by a line holding
                               exactly "\\x1e"; print each one's trace followed by a line holding
                               exactly "\\x1e", flushing after each. An invalid program stops the
                               run with exit 2 (message on stderr, naming it "<batch N>").

Exit status: 0 ok, 2 invalid program or usage, 3 internal error of this runner (a bug; the
Python traceback goes to stderr).

Every operation is done by greenlet itself: a body is greenlet.greenlet(run=...), `switch` and
`throw` are greenlet's C API PyGreenlet_Switch / PyGreenlet_Throw (called through ctypes with
the target's address, so that no Python frame of a suspended greenlet holds a reference to
its target: greenlet's own switch keeps none), `reparent` is `g.parent = p`, `observe` reads
getcurrent()/g.dead/bool(g)/g.parent, and `drop gK` is `slots[k] = None`. The interpreter only
adds tracing, fuel, the end-of-program teardown, and the language's bounds on parent cycles
(docs/language.md, section 8, "Parent cycles": before a walk that greenlet would make round a
cycle forever, the runner makes the same checks as src/interp/cycles.rs and sends the switch,
throw or body's result to main, or raises badparent for reparent/spawn).

Only the program's references keep a greenlet alive (docs/language.md, "drop"): slots, the
greenlets a `spawn` overwrote (kept for good), greenlet's own parent links and current
greenlet. The run keeps weak references to every greenlet and its id on the greenlet itself
(`_sy_id`), the cycle collector is off during a run, and so CPython's reference counting frees
or kills a greenlet exactly when the language says. A kill (greenlet's dealloc throwing
GreenletExit("Killing the greenlet because all references have vanished.")) is recorded as
`#I kill #J` by the victim J when the kill's GreenletExit reaches its pending switch/throw, or
through sys.unraisablehook when it reaches J suspended inside a dealloc of its own. greenlet's
"GreenletExit did not kill" message (a zombie) goes to a discarded stderr during the run.
"""

import ctypes
import gc
import io
import sys
import traceback
import weakref

import greenlet
from greenlet import GreenletExit, getcurrent

from gp_lang import *  # noqa: F401,F403 (the language: limits, errors, parser)

# ---------------------------------------------------------------------------------------------
# Running

# greenlet's C API (greenlet.h: PyGreenlet_Throw = 5, PyGreenlet_Switch = 6, SetParent = 7),
# called with the target's ADDRESS so that no frame of a suspended greenlet holds a reference.
_getptr = ctypes.pythonapi.PyCapsule_GetPointer
_getptr.restype = ctypes.c_void_p
_getptr.argtypes = [ctypes.py_object, ctypes.c_char_p]
_API = ctypes.cast(_getptr(greenlet._C_API, b"greenlet._C_API"), ctypes.POINTER(ctypes.c_void_p))
_RAW_THROW = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.py_object,
                               ctypes.c_void_p, ctypes.c_void_p)(_API[5])
_RAW_SWITCH = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.py_object,
                                ctypes.c_void_p)(_API[6])
KILL_MESSAGE = "Killing the greenlet because all references have vanished."
_CURRENT_RUN = []


def _is_kill(exc):
    return type(exc) is GreenletExit and exc.args == (KILL_MESSAGE,)


def _unraisable(u):
    # A kill's result is discarded by greenlet's dealloc; errors land here. One case is an event:
    # a greenlet killed while it was itself suspended inside a dealloc's switch.
    if _CURRENT_RUN and _is_kill(u.exc_value):
        _CURRENT_RUN[-1].record_kill()


sys.unraisablehook = _unraisable


def _walk_loops(start, passes):
    """Whether the walk from `start` up its parent chain comes back to a greenlet it has passed,
    passing exactly the greenlets `passes` says (docs/language.md, section 8, "Parent cycles":
    greenlet 3.5.6 itself would loop forever in C on such a walk). Holds no reference after."""
    passed = set()
    g = start
    while g is not None and passes(g):
        if id(g) in passed:
            return True
        passed.add(id(g))
        g = g.parent
    return False


def _unstarted(g):
    return not g and not g.dead


def _switch_loops(target):
    return _walk_loops(target, lambda g: g.dead)


def _throw_loops(target, error):
    if error is GreenletExit:  # `exit` is the value `exit` once it has passed the target
        return _walk_loops(target, lambda g: g.dead or (g is target and _unstarted(g)))
    return _walk_loops(target, lambda g: g.dead or _unstarted(g))


def _end_loops(error):
    me = getcurrent()
    return _walk_loops(me, lambda g: g is me or g.dead or (error and _unstarted(g)))


def _chain_loops(parent, child):
    return _walk_loops(parent, lambda g: g is not child)


class Run:
    """One program's run: its fuel, greenlets (weakly: only program references count), slots
    and trace."""

    def __init__(self, program):
        self.fuel, self.defs, self.main_block = program
        self.out = []
        self.main = getcurrent()
        self.main._sy_id = 0
        self.greenlets = [weakref.ref(self.main)]  # index = id; WEAK: only program refs count
        self.slots = [None] * SLOTS
        self.kept = []  # greenlets whose slot was overwritten by a spawn
        self.ended = False

    # -- trace

    def record(self, text):
        if self.ended:
            return
        self.out.append("#%d %s" % (getcurrent()._sy_id, text))

    def record_kill(self):
        # In the killed greenlet, at once: during a kill its parent is the greenlet that was
        # current when the last reference went.
        if not self.ended:
            self.out.append("#%d kill #%d" % (getcurrent().parent._sy_id, getcurrent()._sy_id))

    # -- statements

    def resolve(self, ref):
        if ref >= 0:
            g = self.slots[ref]
            if g is None:
                raise Unbound()
            return g
        if ref == REF_MAIN:
            return self.main
        if ref == REF_CURRENT:
            return getcurrent()
        p = getcurrent().parent
        if p is None:
            raise Unbound()
        return p

    def state(self, g):
        if g is getcurrent():
            return "running"
        if g.dead:
            return "dead"
        if g:
            return "suspended"
        return "unstarted"

    def block(self, stmts):
        for st in stmts:
            self.stmt(st)

    def transfer(self, raw, target, *args):
        """Switches or throws (`raw`) to the greenlet at address `target`; returns what the
        current greenlet receives. A kill reaching the pending switch is recorded; the end of
        the program unwinds as `Ended`."""
        try:
            v = raw(target, *args)
        except BaseException as e:
            if self.ended:
                raise Ended() from None
            if _is_kill(e):
                self.record_kill()
            raise
        if self.ended:
            raise Ended()
        return v

    def stmt(self, st):
        if self.ended:
            raise Ended()
        if self.fuel <= 0:
            raise Fuel()
        self.fuel -= 1
        op = st[0]
        if op == SWITCH:
            target = self.resolve(st[1])
            # A value that would go round a parent cycle goes to main instead.
            target = id(self.main if _switch_loops(target) else target)
            self.record("recv " + value_text(self.transfer(_RAW_SWITCH, target, (st[2],), None)))
        elif op == THROW:
            target = self.resolve(st[1])
            # An error that would go round a parent cycle is thrown to main instead.
            target = id(self.main if _throw_loops(target, st[2]) else target)
            self.record("recv " + value_text(self.transfer(_RAW_THROW, target, st[2], None, None)))
        elif op == TRY:
            caught = None
            try:
                self.block(st[1])
            except CATCHABLE as e:
                if st[2] is not CATCH_ANY and type(e) is not st[2]:
                    raise
                caught = error_word(e)
            if caught is not None:
                self.record("caught " + caught)
                self.block(st[3])
        elif op == REPEAT:
            body = st[2]
            for _ in range(st[1]):
                self.block(body)
        elif op == RECURSE:
            self.recurse(st[1], st[2])
        elif op == SPAWN:
            parent = getcurrent() if st[3] is None else self.resolve(st[3])
            if len(self.greenlets) - 1 >= MAX_SPAWNS:
                raise Limit()
            if _chain_loops(parent, None):  # greenlet's parent setter would loop
                raise BadParent()
            g = greenlet.greenlet(run=self.body(st[2]), parent=parent)
            del parent
            n = g._sy_id = len(self.greenlets)
            self.greenlets.append(weakref.ref(g))
            old = self.slots[st[1]]
            if old is not None:
                # Overwriting a slot does NOT release the old greenlet (the language keeps
                # pre-drop traces unchanged): the run keeps it, for good.
                self.kept.append(old)
            del old
            self.slots[st[1]] = g
            del g
            self.record("spawn #%d" % n)
        elif op == RETURN:
            raise ReturnSignal(st[1])
        elif op == RAISE:
            raise st[1]()
        elif op == REPARENT:
            g = self.resolve(st[1])
            p = self.resolve(st[2])
            if _chain_loops(p, g):  # greenlet's parent setter would loop
                raise BadParent()
            refused = False
            try:
                g.parent = p
            except (ValueError, TypeError, AttributeError):
                refused = True
            if refused:
                raise BadParent()
        elif op == OBSERVE:
            g = self.resolve(st[1])
            p = g.parent
            self.record("observe #%d %s parent %s" % (
                g._sy_id, self.state(g), "-" if p is None else "#%d" % p._sy_id))
        elif op == DROP:
            if self.slots[st[1]] is None:
                raise Unbound()
            self.slots[st[1]] = None  # the decref: a kill, if any, runs inside this store
        else:
            raise AssertionError("bad statement %r" % (st,))

    def recurse(self, n, stmts):
        # One Python frame per level, each holding a value it checks after the block returns.
        if n == 0:
            self.block(stmts)
            return
        canary = (n * 2654435761) & 0xFFFFFFFF
        self.recurse(n - 1, stmts)
        if canary != (n * 2654435761) & 0xFFFFFFFF:
            raise AssertionError("recurse frame corrupted")

    def body(self, name):
        stmts = self.defs[name]

        def run(*args):
            if self.ended:
                return None
            if len(args) > 1:
                raise AssertionError("started with %d arguments" % len(args))
            self.record("start " + ("()" if not args else value_text(args[0])))
            try:
                self.block(stmts)
                v = None
            except ReturnSignal as r:
                v = r.value
            except Ended:
                return None
            except PROGRAM_FAILURES as e:
                if self.ended:
                    return None
                self.record("fail " + error_word(e))
                self.end_walk(not isinstance(e, GreenletExit))
                raise
            self.record("finish " + value_text(v))
            self.end_walk(False)
            return v

        return run

    def end_walk(self, error):
        """Just before the current body ends: if its result (an `error` or a value) would go
        round a parent cycle, main becomes its parent, so that main receives it."""
        if _end_loops(error):
            getcurrent().parent = self.main

    # -- the whole program

    def run(self):
        try:
            self.block(self.main_block)
            self.record("finish none")
        except ReturnSignal as r:
            self.record("finish " + value_text(r.value))
        except PROGRAM_FAILURES as e:
            self.record("fail " + error_word(e))
        self.teardown()
        self.out.append("end")
        self.release()
        return self.out

    def teardown(self):
        i = 1
        while i < len(self.greenlets):  # spawns during teardown are visited too
            g = self.greenlets[i]()
            if g is not None and g and g is not getcurrent():  # suspended
                self.record("teardown #%d" % i)
                g.parent = self.main  # may release J's old parent: a kill can run here
                addr = id(g)
                del g
                if self.greenlets[i]() is None:  # J itself freed meanwhile: nothing to throw into
                    i += 1
                    continue
                try:
                    v = _RAW_THROW(addr, GreenletExit, None, None)
                    self.record("recv " + value_text(v))
                except PROGRAM_FAILURES as e:
                    self.record("caught " + error_word(e))
            g = None
            i += 1

    def release(self):
        """After `end`: unwind every greenlet still suspended, silently, then drop them all."""
        self.ended = True
        self.greenlets = [r() for r in self.greenlets]  # strong again: nothing dies from now on
        for g in self.greenlets[1:]:
            if g is not None and g and not g.dead and g is not getcurrent():
                g.parent = self.main
                try:
                    g.throw(Ended)
                except Ended:
                    pass
        for g in self.greenlets[1:]:
            if g is not None and g:
                raise AssertionError("greenlet still alive after release")
        self.greenlets = []
        self.kept = []
        self.slots = []
        self.defs = None


def run_program(program):
    r = Run(program)
    _CURRENT_RUN.append(r)
    stderr = sys.stderr
    # Only reference counting may free greenlets during a run (the cycle collector could free
    # unstarted or dead ones at any time, releasing their parent links); greenlet's zombie
    # message ("GreenletExit did not kill ...") is not part of the trace.
    gc.disable()
    sys.stderr = io.StringIO()
    try:
        lines = r.run()
    finally:
        sys.stderr = stderr
        gc.enable()
        _CURRENT_RUN.pop()
    gc.collect()
    return lines


# ---------------------------------------------------------------------------------------------
# Command line


def parse_or_exit(name, data):
    try:
        return parse(data)
    except ParseError as e:
        sys.stderr.write("%s:%d:%d: %s\n" % (name, e.line, e.col, e.message))
        sys.exit(2)


def main_files(paths):
    programs = []
    for p in paths:
        try:
            with open(p, "rb") as f:
                data = f.read()
        except OSError as e:
            sys.stderr.write("%s: %s\n" % (p, e.strerror or e))
            sys.exit(2)
        programs.append((p, parse_or_exit(p, data)))
    out = sys.stdout
    for p, prog in programs:
        if len(programs) > 1:
            out.write("== %s\n" % p)
        out.write("\n".join(run_program(prog)) + "\n")
        out.flush()


def main_batch():
    inp = sys.stdin.buffer
    out = sys.stdout
    buf = []
    count = 0

    def one(data):
        nonlocal count
        count += 1
        prog = parse_or_exit("<batch %d>" % count, data)
        out.write("\n".join(run_program(prog)) + "\n\x1e\n")
        out.flush()

    for raw in inp:
        if raw.rstrip(b"\r\n") == b"\x1e":
            one(b"".join(buf))
            buf = []
        else:
            buf.append(raw)
    rest = b"".join(buf)
    if rest.strip(WS):
        one(rest)


def main(argv):
    if argv == ["--batch"]:
        main_batch()
    elif argv and not any(a.startswith("--") for a in argv):
        main_files(argv)
    else:
        sys.stderr.write("usage: greenlet_runner.py FILE... | greenlet_runner.py --batch\n")
        sys.exit(2)


if __name__ == "__main__":
    sys.setrecursionlimit(100_000)
    try:
        main(sys.argv[1:])
    except SystemExit:
        raise
    except BrokenPipeError:
        sys.exit(3)
    except BaseException:
        sys.stderr.write("greenlet_runner.py: internal error (a bug in the runner):\n")
        traceback.print_exc()
        sys.exit(3)
