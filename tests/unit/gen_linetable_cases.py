# SPDX-License-Identifier: MIT
"""Writes line-table test cases, as the running interpreter sees them, to stdout.

Run by each interpreter under test (3.8+). Compiles (never runs) sample code
chosen to stress the table encodings, and for every code object writes:

    minor <N>
    code <name> <firstlineno> <code bytes> <table hex or -> <line per code unit>...

where the last fields give the expected line of every 2-byte code unit at
byte offset 0, 2, 4, ...; 0 means "no line". Expected lines come from the
interpreter: co_lines() on 3.10+, dis.findlinestarts() on 3.8/3.9, and both are
cross-checked against the C function PyCode_Addr2Line through ctypes (what
tracebacks and f_lineno use), so the cases can't merely echo our reading of
the format.
"""
import dis
import sys
import types

MINOR = sys.version_info[1]

COMMON = '''
import os

def simple(a, b):
    return a + b

def multiline_expr(x):
    y = (x +
         x *
         2)
    z = f(
        x,
        y,
    )[
        0
    ].attr.meth(
        1)
    return {
        'a': y,
        'b': z,
    }

def loops(n):
    total = 0
    for i in range(n):
        if i % 2:
            continue
        while total < i:
            total += 1
            if total > 100:
                break
        else:
            total -= 1
    else:
        total += 2
    while True:
        n -= 1
        if not n:
            break
    return total

def exceptions(x):
    try:
        x = 1 / x
    except ZeroDivisionError as e:
        x = e
    except (TypeError,
            ValueError):
        raise
    else:
        x += 1
    finally:
        x = None
    try:
        pass
    finally:
        return x

def withs(p):
    with open(p) as f, open(p) as g:
        data = f.read() + g.read()
    with open(p):
        pass
    return data

def comprehensions(xs):
    a = [x * 2 for x in xs if x]
    b = {x: y
         for x in xs
         for y in xs}
    c = {x for x in xs}
    d = (x for x in xs)
    return a, b, c, list(d)

def gen(n):
    for i in range(n):
        yield i
    yield from range(n)
    x = yield
    return x

async def coro(aw):
    async with aw as a:
        async for b in a:
            await b
    return [c async for c in aw]

lam = lambda x: (x +
                 1)

def deco(*a):
    return lambda f: f

@deco
@deco(1,
      2)
def decorated(
    a,
    b=1,
):
    pass

class K:
    attr = 1

    @property
    def p(self):
        return self.attr

    def __init__(self):
        super().__init__()

def implicit_return(x):
    if x:
        print(x)

def loop_implicit_return(xs):
    for x in xs:
        print(x)

def nested():
    v = 0
    def inner():
        nonlocal v
        v = 1
    inner()
    return lambda: v

def fstrings(x):
    return f"""{x!r:>{10}}
{x}""" + f'{x}'

def one_liner(): return 1
'''

# Syntax that older minors can't compile.
BY_MINOR = {
    10: '''
def matching(p):
    match p:
        case [x, y, *rest]:
            return x
        case {"k": v, **kw}:
            return v
        case Point(x=0) | None:
            return 0
        case _:
            pass
''',
    11: '''
def groups():
    try:
        pass
    except* ValueError:
        pass
    except* (TypeError, KeyError) as eg:
        raise
''',
    12: '''
def generic[T](x: T) -> T:
    type Alias = list[T]
    return x
''',
}


def long_source():
    """Big jumps in every table field: >255 lines, >127 line deltas both ways,
    >255 bytes on one line, columns >127 (3.11+ long entries)."""
    s = ["def long_function(x, y):", "    a = x"]
    s += ["    # filler %d" % k for k in range(300)]
    s.append("    b = a + 1")
    s.append("    for i in range(x):")
    s += ["        a += i * %d" % k for k in range(200)]
    s.append("    c = [" + ", ".join("a + %d" % k for k in range(150)) + "]")
    s.append("    d = (a,")
    s += [""] * 140
    s.append("         b)")
    s.append('    t = """' + "text\n" * 300 + '"""')
    s.append("    while a > b:")
    s += ["        a -= %d" % k for k in range(150)]
    s.append("    e = f(a,")
    s += ["          b + %d," % k for k in range(140)]
    s.append("          x).g(")
    s += ["        y,"] * 130
    s.append("    )")
    s.append("    " + "x" * 200 + " = a.b(c, d, e, t)")
    s.append("    return " + " + ".join("x" for k in range(30)))
    return "\n".join(s) + "\n"


def walk(code):
    yield code
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from walk(c)


def expected_lines(co):
    n = len(co.co_code) // 2
    lines = [None] * n
    if MINOR >= 10:
        for start, end, line in co.co_lines():
            for u in range(start // 2, end // 2):
                lines[u] = line or 0
    else:
        starts = list(dis.findlinestarts(co))
        k = -1
        for u in range(n):
            while k + 1 < len(starts) and starts[k + 1][0] <= 2 * u:
                k += 1
            lines[u] = starts[k][1]
    if None in lines:
        sys.exit("%s: offset %d not covered" % (co.co_name, 2 * lines.index(None)))
    return lines


def addr2line():
    try:
        import ctypes
        f = ctypes.pythonapi.PyCode_Addr2Line
    except (ImportError, AttributeError):
        return None
    f.argtypes = [ctypes.py_object, ctypes.c_int]
    f.restype = ctypes.c_int
    return f


def main():
    srcs = [("common", COMMON), ("long", long_source())]
    srcs += [("v%d" % m, s) for m, s in sorted(BY_MINOR.items()) if MINOR >= m]
    a2l = addr2line()
    out = ["minor %d" % MINOR]
    for name, src in srcs:
        for co in walk(compile(src, "<%s>" % name, "exec")):
            table = co.co_lnotab if MINOR <= 9 else co.co_linetable
            lines = expected_lines(co)
            if a2l:
                for u, want in enumerate(lines):
                    got = a2l(co, 2 * u)
                    if max(got, 0) != want:
                        sys.exit("%s: offset %d: PyCode_Addr2Line %d, expected %d"
                                 % (co.co_name, 2 * u, got, want))
            # 3.12+ names like "<generic parameters of generic>" have spaces.
            name = "_".join(co.co_name.split())
            out.append(" ".join(["code", name, str(co.co_firstlineno),
                                 str(len(co.co_code)), table.hex() or "-"]
                                + [str(x) for x in lines]))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
