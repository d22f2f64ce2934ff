#!/usr/bin/env python3
"""The layering check: which C module of ergrid may depend on which.

A folder is libcoord/, api/, each services/<name>/ and bench/. Inside a
folder a module is a basename: X.c and X.h are module X. Module A depends on
module B when a file of A includes "B.h", or when a file of A uses a
function that B.c defines (found through an umbrella header that is not B.h,
which is how a header included everywhere hides who calls whom).

It fails on
  - any dependency cycle inside a folder (no two files call each other),
  - libcoord including a header outside libcoord,
  - api including a header outside api and libcoord,
  - a service including another service's (or bench's) header.
Quoted includes resolve like the build does: the including file's folder,
then its component's root, then libcoord/ and api/; any other folder of the
tree is tried last, only to name the offending header. Headers found nowhere
(system or generated ones) are ignored.

Usage: include_graph.py [--root DIR] [--print] [--includes-only]
  --print          also print each folder's graph, one line per file
  --includes-only  cycles from include lines alone (no umbrella-header uses)
Exit status: 0 clean, 1 problems found, 2 bad usage.
"""

import argparse
import collections
import os
import re
import sys

SHARED = ("libcoord", "api")
SOURCE_EXT = (".c", ".h")

INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', re.M)
# Comments, string and character literals, and preprocessor lines (with
# their continuations): what must not be read as code.
NOISE_RE = re.compile(
    r"""/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|^[ \t]*#(?:\\\n|[^\n])*""",
    re.S | re.M)
TOKEN_RE = re.compile(r"[A-Za-z_]\w*|\S")


class Component:
    """One folder of the layering: its name (libcoord, api, services/broker,
    bench) and which other components its files may include."""

    def __init__(self, name, path, allowed):
        self.name = name
        self.path = path
        self.allowed = allowed  # component names, or None: anything


def components(root):
    found = []
    for name in SHARED:
        if os.path.isdir(os.path.join(root, name)):
            allowed = {"libcoord"} if name == "libcoord" else {"libcoord", "api"}
            found.append(Component(name, os.path.join(root, name), allowed))
    services = os.path.join(root, "services")
    if os.path.isdir(services):
        for svc in sorted(os.listdir(services)):
            path = os.path.join(services, svc)
            if os.path.isdir(path):
                name = "services/" + svc
                found.append(Component(name, path, {name, "libcoord", "api"}))
    # bench consumes every layer, like the tests; only its own cycles count.
    if os.path.isdir(os.path.join(root, "bench")):
        found.append(Component("bench", os.path.join(root, "bench"), None))
    return found


def source_files(comp):
    out = []
    for dirpath, dirnames, filenames in os.walk(comp.path):
        dirnames.sort()
        for f in sorted(filenames):
            if f.endswith(SOURCE_EXT):
                out.append(os.path.join(dirpath, f))
    return out


def module_of(comp, path):
    return os.path.splitext(os.path.relpath(path, comp.path))[0]


def scan_code(text):
    """Returns (definitions, references, declarations) of one file:
    non-static functions defined at file scope, identifiers used inside
    braces (bodies and initializers, not member names), and names declared
    at file scope as functions."""
    tokens = TOKEN_RE.findall(NOISE_RE.sub(" ", text))
    defined, used, declared = set(), set(), set()
    depth = 0
    stmt = []  # tokens of the current file-scope statement
    for i, t in enumerate(tokens):
        if t == "{":
            if depth == 0:
                name = function_name(stmt)
                if name and "static" not in stmt:
                    defined.add(name)
                stmt = []
            depth += 1
        elif t == "}":
            depth = max(depth - 1, 0)
        elif depth > 0:
            if is_ident(t) and not (i > 0 and tokens[i - 1] in (".", ">")):
                used.add(t)
        elif t == ";":
            name = function_name(stmt)
            if name:
                declared.add(name)
            stmt = []
        else:
            stmt.append(t)
    return defined, used, declared


def is_ident(t):
    return t[0].isalpha() or t[0] == "_"


def function_name(stmt):
    """The name in 'type name(params) [__attribute__((...))]', or None."""
    end = len(stmt)
    while end > 0 and stmt[end - 1] == ")":
        depth, j = 0, end - 1
        while j >= 0:
            if stmt[j] == ")":
                depth += 1
            elif stmt[j] == "(":
                depth -= 1
                if depth == 0:
                    break
            j -= 1
        if j <= 0:
            return None
        name = stmt[j - 1]
        if name in ("__attribute__", "__attribute"):
            end = j - 1
            continue
        if not is_ident(name) or stmt[0] in ("typedef", "struct", "union", "enum"):
            return None
        return name
    return None


class SourceFile:
    def __init__(self, comp, path, root):
        self.comp = comp
        self.path = path
        self.rel = os.path.relpath(path, root)
        self.module = module_of(comp, path)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        self.includes = INCLUDE_RE.findall(NOISE_RE.sub(
            lambda m: m.group(0) if m.group(0).lstrip().startswith("#") else " ", text))
        self.defined, self.used, self.declared = scan_code(text)
        if path.endswith(".h"):
            self.defined = set()  # static inline helpers belong to each includer
        self.resolved = []  # (spelling, SourceFile or None)


class Graph:
    def __init__(self, root, includes_only=False):
        self.root = os.path.abspath(root)
        self.includes_only = includes_only
        self.comps = components(self.root)
        self.files = {}  # abspath -> SourceFile
        for comp in self.comps:
            for p in source_files(comp):
                self.files[os.path.abspath(p)] = SourceFile(comp, p, self.root)
        by_name = {c.name: c for c in self.comps}
        for sf in self.files.values():
            for spelling in sf.includes:
                sf.resolved.append((spelling, self.resolve(sf, spelling, by_name)))

    def resolve(self, sf, spelling, by_name):
        tries = [os.path.dirname(sf.path), sf.comp.path]
        tries += [by_name[n].path for n in SHARED if n in by_name]
        tries += [c.path for c in self.comps]
        for d in tries:
            p = os.path.abspath(os.path.join(d, spelling))
            if p in self.files:
                return self.files[p]
        return None

    def folder_files(self, comp):
        return [sf for sf in self.files.values() if sf.comp is comp]

    def visible_headers(self, sf):
        """Headers of sf's own folder that sf includes, directly or not."""
        seen, todo = [], [h for _, h in sf.resolved if h and h.comp is sf.comp]
        while todo:
            h = todo.pop(0)
            if h in seen:
                continue
            seen.append(h)
            todo += [g for _, g in h.resolved if g and g.comp is sf.comp]
        return seen

    def edges(self, comp):
        """module -> {module: [reason, ...]} inside one folder; a reason
        names the file that makes the dependency."""
        files = self.folder_files(comp)
        definer = {}
        for sf in files:
            for name in sf.defined:
                definer.setdefault(name, sf)
        own = collections.defaultdict(set)
        for sf in files:
            own[sf.module] |= sf.defined
        out = collections.defaultdict(lambda: collections.defaultdict(list))
        for sf in sorted(files, key=lambda f: f.rel):
            base = os.path.basename(sf.path)
            for spelling, h in sf.resolved:
                if h and h.comp is comp and h.module != sf.module:
                    out[sf.module][h.module].append('%s includes "%s"' % (base, spelling))
            if self.includes_only:
                continue
            headers = self.visible_headers(sf)
            for name in sorted(sf.used):
                d = definer.get(name)
                if not d or d.module == sf.module or name in own[sf.module]:
                    continue
                via = next((h for h in headers if name in h.declared), None)
                if via is None or via.module == d.module:
                    # Declared in d's own header: the include edge says it.
                    if via is not None:
                        continue
                    reason = "%s uses %s() of %s" % (base, name, os.path.basename(d.path))
                else:
                    reason = "%s uses %s() of %s, declared in %s" % (
                        base, name, os.path.basename(d.path), os.path.basename(via.path))
                out[sf.module][d.module].append(reason)
        return out

    def layer_problems(self):
        problems = []
        for sf in sorted(self.files.values(), key=lambda f: f.rel):
            allowed = sf.comp.allowed
            if allowed is None:
                continue
            for spelling, h in sf.resolved:
                if h and h.comp.name not in allowed:
                    problems.append('%s includes "%s" (%s): %s may include only %s headers' % (
                        sf.rel, spelling, h.rel, sf.comp.name, ", ".join(sorted(allowed))))
        return problems

    def cycle_problems(self, comp):
        edges = self.edges(comp)
        problems = []
        for scc in strongly_connected(edges):
            if len(scc) < 2:
                continue
            cycles = []
            for start in sorted(scc):
                c = shortest_cycle(edges, start, scc)
                key = canonical(c)
                if c and key not in [canonical(x) for x in cycles]:
                    cycles.append(c)
            lines = ["%s: dependency cycle among %d modules: %s" % (
                comp.name, len(scc), ", ".join(sorted(scc)))]
            for c in cycles:
                lines.append("  " + " -> ".join(header_name(comp, self, m) for m in c + [c[0]]))
                for a, b in zip(c, c[1:] + [c[0]]):
                    reasons = edges[a][b]
                    more = " (and %d more)" % (len(reasons) - 1) if len(reasons) > 1 else ""
                    lines.append("      %s%s" % (reasons[0], more))
            problems.append("\n".join(lines))
        return problems

    def print_graph(self, out):
        for comp in self.comps:
            files = sorted(self.folder_files(comp), key=lambda f: f.rel)
            out.write("%s (%d files)\n" % (comp.name, len(files)))
            for sf in files:
                names = []
                for spelling, h in sf.resolved:
                    if h is None:
                        names.append('"%s" (not in the tree)' % spelling)
                    elif h.comp is comp:
                        names.append(os.path.relpath(h.path, comp.path))
                    else:
                        names.append(h.rel)
                out.write("  %s: %s\n" % (os.path.relpath(sf.path, comp.path),
                                          ", ".join(names) if names else "-"))


def header_name(comp, graph, module):
    """How a module is shown in a cycle: its header when it has one."""
    for ext in (".h", ".c"):
        p = os.path.join(comp.path, module + ext)
        if os.path.abspath(p) in graph.files:
            return module + ext
    return module


def strongly_connected(edges):
    """Tarjan's algorithm, iterative (a deep folder must not hit the
    recursion limit)."""
    nodes = sorted(set(edges) | {b for a in edges for b in edges[a]})
    index, low, on_stack, stack, result = {}, {}, set(), [], []
    counter = 0
    for v in nodes:
        if v in index:
            continue
        work = [(v, iter(sorted(edges.get(v, {}))))]
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, {})))))
                    advanced = True
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                scc = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    scc.add(w)
                    if w == node:
                        break
                result.append(scc)
    return result


def shortest_cycle(edges, start, scc):
    """Breadth-first from start back to it, inside one component."""
    prev = {start: None}
    queue = collections.deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(edges.get(v, {})):
            if w not in scc:
                continue
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path))
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return []


def canonical(cycle):
    if not cycle:
        return ()
    i = cycle.index(min(cycle))
    return tuple(cycle[i:] + cycle[:i])


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(here, "..", ".."),
                    help="the tree to check (default: this repository)")
    ap.add_argument("--print", action="store_true", dest="print_graph",
                    help="print each folder's include graph")
    ap.add_argument("--includes-only", action="store_true",
                    help="build the cycles from include lines alone")
    args = ap.parse_args(argv)
    if not os.path.isdir(args.root):
        ap.error("no such folder: %s" % args.root)
    graph = Graph(args.root, args.includes_only)
    if not graph.comps:
        ap.error("%s has none of libcoord/, api/, services/*/, bench/" % args.root)
    if args.print_graph:
        graph.print_graph(sys.stdout)
    problems = graph.layer_problems()
    for comp in graph.comps:
        problems += graph.cycle_problems(comp)
    for p in problems:
        print(p)
    print("include graph: %d folders, %d files, %s" % (
        len(graph.comps), len(graph.files),
        "%d problem%s" % (len(problems), "" if len(problems) == 1 else "s") if problems else "no cycles, layering kept"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
