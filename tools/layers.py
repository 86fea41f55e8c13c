#!/usr/bin/env python3
"""tools/layers.py - checks that shim/ is layered: every arrow between its
modules (an #include "x.h" of another module's header, or a use of a
function or variable another module's header declares) goes strictly down
the declared layer order below, so there is no upward arrow and no loop.
Also checks the one way to libc (shim/symbols.h): outside the hooks, no
file calls a function the shim hooks by its libc name.

A module is a file name without its extension: conn.c and conn.h are
module conn; a header with no .c (clock.h, transport.h) is a module too.
Function pointers given at run time (the flusher's callbacks, a
transport's operations) are not arrows: that is how a lower layer calls
up without depending on what is above.

Usage: tools/layers.py [--graph] [SHIM_DIR]
  --graph  prints the arrows, layer by layer (for docs/architecture.md)
Exits 1 on any violation, listing each with the line that makes it.
"""
import os
import re
import sys

# Top to bottom. A module may use only modules of later layers; modules of
# one layer are siblings and use none of each other.
LAYERS = [
    ("hooks", ["hooks_io", "hooks_fd", "hooks_proc", "hooks_wait"]),
    ("TLS hooks", ["hooks_ssl"]),
    ("hooks, shared", ["hooks"]),
    ("process events", ["process"]),
    ("SSL * to connections", ["tlsconn"]),
    ("fds to connections", ["track"]),
    ("phase machine, read side", ["phase", "accel"]),
    ("what the shim sends, requests paired", ["answer", "exchange"]),
    ("a connection's state", ["conn"]),
    ("leaves", ["decide", "deliver", "hold", "headcache", "report",
                "storeview", "tagwatch", "transport_sock", "transport_tls",
                "kept", "execenv"]),
    ("leaves' leaves", ["filehash", "flusher", "tlstable", "shared_map"]),
    ("configuration", ["config"]),
    ("OpenSSL, found at run time", ["ssl_real"]),
    ("base", ["log", "fdtable", "alloc", "clock", "spin", "lock", "cursor",
              "transport"]),
    ("libc", ["symbols"]),
]

# Files that may call hooked libc functions by name: the hooks themselves
# (they are those names) and the table that resolves them.
LIBC_EXEMPT = {"hooks_io", "hooks_fd", "hooks_proc", "hooks_wait", "hooks",
               "symbols",
               "hooks_ssl", "ssl_real"}


def strip_comments_and_strings(text):
    """Blanks comments, string and char literals, keeping line numbers."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) +
                       (c if j - 1 > i else ""))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def declared_names(header_text):
    """The functions, function-like macros and variables a header declares
    or defines: its public surface. Public names carry the nm_ prefix
    (docs/architecture.md); the nm_real_x / nm_raw_x functions symbols.h
    generates from its list are counted too."""
    code = strip_comments_and_strings(header_text)
    names = set(re.findall(r"^\s*#\s*define\s+(nm_\w+)\(", code, re.M))
    # Generated: X(type, name, ...) entries of an nm_real_##name list.
    if "nm_real_##name" in code:
        for name in re.findall(r"\bX\(\s*[\w ]+?\s*,\s*(\w+)\s*,", code):
            names.update({"nm_real_" + name, "nm_raw_" + name})
    body = re.sub(r"^\s*#.*(?:\\\n.*)*", "", code, flags=re.M)
    # nm_ names followed by "(" outside any brace or parenthesis: the
    # prototypes and inline definitions, not calls inside their bodies.
    braces = parens = 0
    prev = None
    for t in re.finditer(r"[A-Za-z_]\w*|[{}()]", body):
        tok = t.group(0)
        if tok == "(":
            if braces == 0 and parens == 0 and prev and \
                    re.match(r"nm_\w+$", prev):
                names.add(prev)
            parens += 1
        elif tok == ")":
            parens -= 1
        elif tok == "{":
            braces += 1
        elif tok == "}":
            braces -= 1
        prev = tok
    for m in re.finditer(r"\bextern\b[^;(]*?\b(nm_\w+)\s*(?:\[[^\]]*\])?"
                         r"\s*(?:__attribute__\s*\(\(.*?\)\))?\s*;", body):
        names.add(m.group(1))
    return names


def load(shim):
    files = sorted(f for f in os.listdir(shim)
                   if f.endswith(".c") or f.endswith(".h"))
    texts = {f: open(os.path.join(shim, f), encoding="utf-8").read()
             for f in files}
    modules = sorted({os.path.splitext(f)[0] for f in files})
    owner = {}  # public name -> module
    for f in files:
        if f.endswith(".h"):
            for name in declared_names(texts[f]):
                owner.setdefault(name, os.path.splitext(f)[0])
    return files, texts, modules, owner


def arrows(files, texts, modules, owner):
    """(from, to) -> first (file, line, what) that makes the arrow."""
    found = {}
    for f in files:
        mod = os.path.splitext(f)[0]
        raw = texts[f]
        for no, line in enumerate(raw.split("\n"), 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)\.h"', line)
            if m and m.group(1) in modules and m.group(1) != mod:
                found.setdefault((mod, m.group(1)),
                                 (f, no, '#include "%s.h"' % m.group(1)))
        code = strip_comments_and_strings(raw)
        for no, line in enumerate(code.split("\n"), 1):
            for m in re.finditer(r"(?<![\w.>])([A-Za-z_]\w*)\b", line):
                name = m.group(1)
                to = owner.get(name)
                if to is not None and to != mod:
                    found.setdefault((mod, to), (f, no, name))
    return found


def libc_calls(files, texts, shim):
    """Calls by libc name of a hooked function outside the hooks."""
    hooked = set()
    path = os.path.join(shim, "exports.map")
    if os.path.exists(path):
        body = strip_comments_and_strings(open(path).read())
        m = re.search(r"global:(.*?)local:", body, re.S)
        hooked = set(re.findall(r"\w+", m.group(1))) if m else set()
    bad = []
    for f in files:
        if os.path.splitext(f)[0] in LIBC_EXEMPT:
            continue
        code = strip_comments_and_strings(texts[f])
        for no, line in enumerate(code.split("\n"), 1):
            for m in re.finditer(r"(?<![\w.>])(\w+)\s*\(", line):
                if m.group(1) in hooked:
                    bad.append("%s:%d: calls %s() through the shim's own "
                               "hook: use nm_real_%s (symbols.h)" %
                               (f, no, m.group(1), m.group(1)))
    return bad


def cycles(edges, modules):
    """Strongly connected components with more than one module."""
    index, low, stack, on, out = {}, {}, [], set(), []
    graph = {m: sorted(t for (f, t) in edges if f == m) for m in modules}

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for m in modules:
        if m not in index:
            visit(m)
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    shim = args[0] if args else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "shim")
    files, texts, modules, owner = load(shim)
    layer_of = {}
    for i, (_, mods) in enumerate(LAYERS):
        for m in mods:
            layer_of[m] = i
    problems = []
    for m in modules:
        if m not in layer_of:
            problems.append("%s: not in any layer of tools/layers.py: "
                            "place it" % m)
    edges = arrows(files, texts, modules, owner)
    for (f, t), (path, no, what) in sorted(edges.items()):
        if f in layer_of and t in layer_of and layer_of[f] >= layer_of[t]:
            kind = "sideways" if layer_of[f] == layer_of[t] else "upward"
            problems.append("%s:%d: %s arrow %s -> %s (%s)" %
                            (path, no, kind, f, t, what))
    for comp in cycles(edges, modules):
        problems.append("loop through: " + ", ".join(comp))
    problems += libc_calls(files, texts, shim)
    if "--graph" in sys.argv:
        for i, (title, mods) in enumerate(LAYERS):
            print("%2d %s" % (i + 1, title))
            for m in mods:
                if m not in modules:
                    continue
                to = sorted({t for (f, t) in edges if f == m},
                            key=lambda t: (layer_of.get(t, 99), t))
                print("     %-15s -> %s" % (m, " ".join(to) or "-"))
    for p in problems:
        print("layers: " + p, file=sys.stderr)
    if problems:
        return 1
    print("layers: %d modules in %d layers, %d arrows, all downward, no "
          "loop" % (len(modules), len(LAYERS), len(edges)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
