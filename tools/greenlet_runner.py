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
adds tracing, fuel and the end-of-program teardown.

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

# ---------------------------------------------------------------------------------------------
# Limits (spec: Syntax / Lexical rules / Static limits / Semantics)

DEFAULT_FUEL = 10_000
MAX_FUEL = 1_000_000
MAX_COUNT = 1000
MAX_NESTING = 100
MAX_RECURSION = 4096
MAX_SPAWNS = 64
SLOTS = 16

RESERVED = {
    "def", "main", "spawn", "switch", "throw", "return", "raise", "try", "catch", "repeat",
    "recurse", "reparent", "observe", "drop", "parent", "current", "none", "any", "fuel",
    "E0", "E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E9",
    "exit", "badparent", "unbound", "limit",
}

# ---------------------------------------------------------------------------------------------
# Errors a program can raise or catch. Each is its own Exception subclass; `exit` is greenlet's
# own GreenletExit (a BaseException). `fuel` is a BaseException that no `catch` catches.


class ProgramError(Exception):
    """Base of E0..E9, badparent, unbound, limit (never raised itself)."""

    word = "?"


def _make_error(word):
    return type("Err_" + word, (ProgramError,), {"word": word})


ERRORS = {}
for _i in range(10):
    ERRORS["E%d" % _i] = _make_error("E%d" % _i)
for _w in ("badparent", "unbound", "limit"):
    ERRORS[_w] = _make_error(_w)
ERRORS["exit"] = GreenletExit

BadParent = ERRORS["badparent"]
Unbound = ERRORS["unbound"]
Limit = ERRORS["limit"]


class Fuel(BaseException):
    """`fuel`: raised by a statement when no fuel is left; caught by no `catch`."""


class Ended(BaseException):
    """Internal: raised in a body resumed after `end` so it unwinds silently."""


class ReturnSignal(BaseException):
    """Internal: `return V` unwinding to its body's top."""

    def __init__(self, value):
        super().__init__()
        self.value = value


# Errors a `catch any` catches (and a specific catch may match).
CATCHABLE = (ProgramError, GreenletExit)
# Errors that end a body with `fail E` (and that teardown records as `caught E`).
PROGRAM_FAILURES = (ProgramError, GreenletExit, Fuel)


def error_word(exc):
    if isinstance(exc, ProgramError):
        return exc.word
    if isinstance(exc, GreenletExit):
        return "exit"
    if isinstance(exc, Fuel):
        return "fuel"
    raise AssertionError("not a program error: %r" % (exc,))


def value_text(v):
    if v is None:
        return "none"
    if isinstance(v, GreenletExit):
        return "exit"
    if type(v) is int:
        return str(v)
    if type(v) is str:
        return '"%s"' % v
    raise AssertionError("not a program value: %r" % (v,))


# ---------------------------------------------------------------------------------------------
# Parsing


class ParseError(Exception):
    def __init__(self, line, col, message):
        super().__init__(message)
        self.line = line
        self.col = col
        self.message = message


# Statement tuples: (op, ...). Refs: 0..15 = slot, and the negative constants below.
SPAWN, SWITCH, THROW, RETURN, RAISE, TRY, REPEAT, RECURSE, REPARENT, OBSERVE, DROP = range(11)
REF_MAIN, REF_CURRENT, REF_PARENT = -1, -2, -3
CATCH_ANY = "any"

WS = b" \t\r\n"
DELIMS = b'{};"#'
STRING_CHARS = set(b"abcdefghijklmnopqrstuvwxyz0123456789_ ")


class Token:
    __slots__ = ("kind", "text", "line", "col")

    def __init__(self, kind, text, line, col):
        self.kind = kind  # "{", "}", ";", "str", "word", "eof"
        self.text = text
        self.line = line
        self.col = col


def _position(data, offset):
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    return line, offset - start + 1


def tokenize(data):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line, col = _position(data, e.start)
        raise ParseError(line, col, "file is not valid UTF-8") from None
    tokens = []
    i, n = 0, len(data)
    line, line_start = 1, 0
    while i < n:
        c = data[i]
        if c == 0x0A:
            i += 1
            line, line_start = line + 1, i
            continue
        if c in WS:
            i += 1
            continue
        col = i - line_start + 1
        if c == 0x23:  # '#'
            while i < n and data[i] != 0x0A:
                i += 1
            continue
        if c in b"{};":
            tokens.append(Token(chr(c), chr(c), line, col))
            i += 1
            continue
        if c == 0x22:  # '"'
            j = i + 1
            while j < n and data[j] in STRING_CHARS:
                j += 1
            if j >= n or data[j] != 0x22:
                raise ParseError(line, col, "bad string: only a-z, 0-9, _ and space, then \"")
            tokens.append(Token("str", data[i + 1:j].decode("ascii"), line, col))
            i = j + 1
            continue
        j = i
        while j < n and data[j] not in WS and data[j] not in DELIMS:
            j += 1
        tokens.append(Token("word", data[i:j].decode("utf-8", "replace"), line, col))
        i = j
    line, col = _position(data, n)
    tokens.append(Token("eof", "end of file", line, col))
    return tokens


def _is_digits(s):
    return s != "" and all("0" <= ch <= "9" for ch in s)


def _is_name(s):
    if s in RESERVED or not s:
        return False
    if not ("a" <= s[0] <= "z" or s[0] == "_"):
        return False
    if not all("a" <= ch <= "z" or "0" <= ch <= "9" or ch == "_" for ch in s):
        return False
    if s[0] == "g" and _is_digits(s[1:]):
        return False
    return True


def _slot(s):
    if s.startswith("g") and _is_digits(s[1:]) and (s[1:] == "0" or s[1] != "0"):
        k = int(s[1:])
        if k < SLOTS:
            return k
    return None


class Parser:
    def __init__(self, data):
        self.toks = tokenize(data)
        self.pos = 0
        self.spawn_names = []  # (token, name) in file order

    def peek(self):
        return self.toks[self.pos]

    def next(self):
        t = self.toks[self.pos]
        if t.kind != "eof":
            self.pos += 1
        return t

    def fail(self, tok, message):
        raise ParseError(tok.line, tok.col, message)

    def word(self, what):
        t = self.next()
        if t.kind != "word":
            self.fail(t, "expected %s, found %s" % (what, self.describe(t)))
        return t

    @staticmethod
    def describe(t):
        if t.kind == "eof":
            return "end of file"
        if t.kind == "str":
            return 'string "%s"' % t.text
        return "'%s'" % t.text

    def number(self, what, maximum):
        t = self.word(what)
        if not _is_digits(t.text) or int(t.text) > maximum:
            self.fail(t, "expected %s (0..%d), found '%s'" % (what, maximum, t.text))
        return int(t.text)

    def program(self):
        fuel = DEFAULT_FUEL
        defs = {}
        main = None
        t = self.peek()
        if t.kind == "word" and t.text == "fuel":
            self.next()
            fuel = self.number("FUEL", MAX_FUEL)
        while True:
            t = self.next()
            if t.kind == "eof":
                if main is None:
                    self.fail(t, "the program has no main")
                break
            if t.kind == "word" and t.text == "def":
                nt = self.word("a body name")
                if not _is_name(nt.text):
                    self.fail(nt, "'%s' is not a valid body name" % nt.text)
                if nt.text in defs:
                    self.fail(nt, "body '%s' is defined twice" % nt.text)
                defs[nt.text] = self.block(1, 0)
            elif t.kind == "word" and t.text == "main":
                if main is not None:
                    self.fail(t, "a second main")
                main = self.block(1, 0)
            else:
                self.fail(t, "expected def or main, found %s" % self.describe(t))
        for tok, name in self.spawn_names:
            if name not in defs:
                self.fail(tok, "no def defines body '%s'" % name)
        return fuel, defs, main

    def block(self, depth, rec):
        t = self.next()
        if t.kind != "{":
            self.fail(t, "expected '{', found %s" % self.describe(t))
        if depth > MAX_NESTING:
            self.fail(t, "blocks nest more than %d deep" % MAX_NESTING)
        out = []
        while True:
            t = self.peek()
            if t.kind == "}":
                self.next()
                return out
            if t.kind == ";":
                self.next()
                continue
            out.append(self.stmt(depth, rec))

    def ref(self):
        t = self.next()
        if t.kind == "word":
            if t.text == "main":
                return REF_MAIN
            if t.text == "current":
                return REF_CURRENT
            if t.text == "parent":
                return REF_PARENT
            k = _slot(t.text)
            if k is not None:
                return k
        self.fail(t, "expected a greenlet reference (g0..g15, main, current, parent), found %s"
                  % self.describe(t))

    def value(self):
        t = self.next()
        if t.kind == "str":
            return t.text
        if t.kind == "word":
            if t.text == "none":
                return None
            s = t.text
            digits = s[1:] if s.startswith("-") else s
            if _is_digits(digits):
                v = int(s)
                if -(1 << 63) <= v < (1 << 63):
                    return v
        self.fail(t, "expected a value (none, an integer or a string), found %s"
                  % self.describe(t))

    def error(self, allow_any=False):
        t = self.next()
        if t.kind == "word":
            if t.text in ERRORS:
                return ERRORS[t.text]
            if allow_any and t.text == "any":
                return CATCH_ANY
        self.fail(t, "expected an error%s, found %s"
                  % (" or any" if allow_any else "", self.describe(t)))

    def stmt(self, depth, rec):
        t = self.word("a statement")
        kw = t.text
        if kw == "spawn":
            st = self.next()
            k = _slot(st.text) if st.kind == "word" else None
            if k is None:
                self.fail(st, "expected a slot g0..g15, found %s" % self.describe(st))
            nt = self.word("a body name")
            if not _is_name(nt.text):
                self.fail(nt, "'%s' is not a valid body name" % nt.text)
            self.spawn_names.append((nt, nt.text))
            parent = None
            p = self.peek()
            if p.kind == "word" and p.text == "parent":
                self.next()
                parent = self.ref()
            return (SPAWN, k, nt.text, parent)
        if kw == "switch":
            r = self.ref()
            return (SWITCH, r, self.value())
        if kw == "throw":
            r = self.ref()
            return (THROW, r, self.error())
        if kw == "return":
            return (RETURN, self.value())
        if kw == "raise":
            return (RAISE, self.error())
        if kw == "try":
            body = self.block(depth + 1, rec)
            c = self.word("catch")
            if c.text != "catch":
                self.fail(c, "expected catch, found %s" % self.describe(c))
            err = self.error(allow_any=True)
            handler = self.block(depth + 1, rec)
            return (TRY, body, err, handler)
        if kw == "repeat":
            n = self.number("COUNT", MAX_COUNT)
            return (REPEAT, n, self.block(depth + 1, rec))
        if kw == "recurse":
            n = self.number("COUNT", MAX_COUNT)
            if rec + n > MAX_RECURSION:
                self.fail(t, "recurse counts add up to more than %d" % MAX_RECURSION)
            return (RECURSE, n, self.block(depth + 1, rec + n))
        if kw == "reparent":
            a = self.ref()
            return (REPARENT, a, self.ref())
        if kw == "observe":
            return (OBSERVE, self.ref())
        if kw == "drop":
            st = self.next()
            k = _slot(st.text) if st.kind == "word" else None
            if k is None:
                self.fail(st, "expected a slot g0..g15, found %s" % self.describe(st))
            return (DROP, k)
        self.fail(t, "expected a statement, found %s" % self.describe(t))


def parse(data):
    """Returns (fuel, defs, main) or raises ParseError."""
    return Parser(data).program()


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

    def stmt(self, st):
        if self.ended:
            raise Ended()
        if self.fuel <= 0:
            raise Fuel()
        self.fuel -= 1
        op = st[0]
        if op == SWITCH:
            addr = id(self.resolve(st[1]))
            try:
                v = _RAW_SWITCH(addr, (st[2],), None)
            except BaseException as e:
                if self.ended:
                    raise Ended() from None
                if _is_kill(e):
                    self.record_kill()
                raise
            if self.ended:
                raise Ended()
            self.record("recv " + value_text(v))
        elif op == THROW:
            addr = id(self.resolve(st[1]))
            try:
                v = _RAW_THROW(addr, st[2], None, None)
            except BaseException as e:
                if self.ended:
                    raise Ended() from None
                if _is_kill(e):
                    self.record_kill()
                raise
            if self.ended:
                raise Ended()
            self.record("recv " + value_text(v))
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
                raise
            self.record("finish " + value_text(v))
            return v

        return run

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
