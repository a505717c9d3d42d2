"""The greenlet program language for the real-greenlet runner (`greenlet_runner.py`): its
limits, the errors a program raises and catches (greenlet's GreenletExit for `exit`), the
tokenizer and the parser with the language's static rules (docs/language.md). Written apart
from the Rust parser on purpose: the cross-check compares two independent readings.
"""

from greenlet import GreenletExit

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
