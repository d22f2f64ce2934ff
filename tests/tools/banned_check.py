#!/usr/bin/env python3
"""Proves banned.h bites, in the build it runs in (the meson test 'banned-h').

From the build's compile_commands.json it checks that every C file of the
project is compiled with -include banned.h, then takes the exact command
that compiled tests/tools/banned_probe.c (the project's flags: warnings,
-Werror, sanitizers, the compiler itself) and
  - compiles the probe again: it must build (the header breaks no system
    or library header);
  - compiles one small call of each function banned.h bans, with
    ERGRID_BANNED_STRICT (the temporary allow-list switched off): each must
    fail, naming the function as banned;
  - compiles each call again with the header switched off: it must build,
    so the failure above comes from banned.h and not from the snippet.
Then it reads banned.h's temporary allow-list and fails if an allowed call
appears in a file the list does not name (a stale entry is only reported).

Usage: banned_check.py --build-dir DIR [--source-root DIR]
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

PROBE = "tests/tools/banned_probe.c"
# The bans the project promises (issue 8); banned.h may add more.
REQUIRED = {"strcpy", "strcat", "sprintf", "vsprintf", "gets", "strncpy", "strncat",
            "strtok", "asctime", "ctime", "gmtime", "localtime"}
# Not declared at all in C11 mode, so its snippet cannot build without the ban.
UNDECLARED_IN_C11 = {"gets"}

# name -> (prototype of probe(), body); each is a plausible, correct call.
CALLS = {
    "strcpy": ("void probe(void)", 'char d[8]; strcpy(d, "x"); (void)d;'),
    "strcat": ("void probe(void)", 'char d[8] = ""; strcat(d, "x"); (void)d;'),
    "stpcpy": ("void probe(void)", 'char d[8]; (void)stpcpy(d, "x");'),
    "strncpy": ("void probe(void)", 'char d[8]; strncpy(d, "x", sizeof(d)); (void)d;'),
    "strncat": ("void probe(void)", 'char d[8] = ""; strncat(d, "x", sizeof(d) - strlen(d) - 1); (void)d;'),
    "stpncpy": ("void probe(void)", 'char d[8]; (void)stpncpy(d, "x", sizeof(d));'),
    "sprintf": ("void probe(void)", 'char d[16]; sprintf(d, "%d", 1); (void)d;'),
    "vsprintf": ("__attribute__((format(printf, 2, 3))) void probe(char *d, const char *f, ...)",
                 "va_list ap; va_start(ap, f); vsprintf(d, f, ap); va_end(ap);"),
    "gets": ("void probe(void)", "char d[16]; if (!gets(d)) return;"),
    "strtok": ("void probe(void)", 'char s[] = "a,b"; (void)strtok(s, ",");'),
    "strtok_r": ("void probe(void)", 'char s[] = "a,b"; char *p; (void)strtok_r(s, ",", &p);'),
    "gmtime": ("void probe(void)", "time_t t = 0; (void)gmtime(&t);"),
    "localtime": ("void probe(void)", "time_t t = 0; (void)localtime(&t);"),
    "ctime": ("void probe(void)", "time_t t = 0; (void)ctime(&t);"),
    "ctime_r": ("void probe(void)", "time_t t = 0; char b[32]; (void)ctime_r(&t, b);"),
    "asctime": ("void probe(void)", "struct tm tm = {0}; (void)asctime(&tm);"),
    "asctime_r": ("void probe(void)", "struct tm tm = {0}; char b[32]; (void)asctime_r(&tm, b);"),
    "mktime": ("void probe(void)", "struct tm tm = {0}; (void)mktime(&tm);"),
    "tmpnam": ("void probe(void)", "char b[L_tmpnam]; if (!tmpnam(b)) return;"),
    "tmpnam_r": ("void probe(void)", "char b[L_tmpnam]; if (!tmpnam_r(b)) return;"),
    "tempnam": ("void probe(void)", 'free(tempnam(NULL, "x"));'),
    "mktemp": ("void probe(void)", 'char t[] = "/tmp/xXXXXXX"; if (!mktemp(t)) return;'),
}
SNIPPET = """#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

%(proto)s;
%(proto)s
{
    %(body)s
}
"""

BAN_RE = re.compile(r"^#define (\w+)\(\.\.\.\) BANNED\(\1\)", re.M)
ALLOW_BLOCK_RE = re.compile(r"BEGIN TEMPORARY ALLOW-LIST(.*?)END TEMPORARY ALLOW-LIST", re.S)
ALLOW_RE = re.compile(r"^#undef (\w+) /\* allowed in: ([^*]*?) \*/", re.M)
# Comments and literals, which may mention a banned name harmlessly.
NOISE_RE = re.compile(r"""/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'""", re.S)
SCANNED = ("libcoord", "api", "services", "bench", "tests")


def fail(msg):
    print("banned-h: FAIL: " + msg)
    return 1


def probe_command(entry):
    """The probe's compile command without its input, output and depfile."""
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MQ", "-MF", "-MT"):
            skip = True
            continue
        if a in ("-c", "-MD", "-MMD") or a == entry["file"] or a.endswith(PROBE):
            continue
        out.append(a)
    return out + ["-fdiagnostics-color=never"]


def compile_text(cmd, cwd, text, extra, tmp):
    src = os.path.join(tmp, "snippet.c")
    with open(src, "w") as f:
        f.write(text)
    p = subprocess.run(cmd + extra + ["-c", src, "-o", os.path.join(tmp, "snippet.o")],
                       cwd=cwd, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def uses(root, name):
    """Files under the scanned folders that call name (comments and strings
    ignored), relative to root."""
    call = re.compile(r"\b%s\s*\(" % re.escape(name))
    found = []
    for top in SCANNED:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = sorted(d for d in dirnames if d != "artifacts")
            for f in sorted(filenames):
                if not f.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, f)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    if call.search(NOISE_RE.sub(" ", fh.read())):
                        found.append(os.path.relpath(path, root))
    return found


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--source-root", default=os.path.join(here, "..", ".."))
    args = ap.parse_args(argv)
    root = os.path.realpath(args.source_root)
    header = os.path.join(root, "banned.h")

    with open(os.path.join(args.build_dir, "compile_commands.json")) as f:
        entries = json.load(f)
    missing = []
    for e in entries:
        a = shlex.split(e["command"]) if "command" in e else e["arguments"]
        forced = [os.path.realpath(os.path.join(e["directory"], a[i + 1]))
                  for i in range(len(a) - 1) if a[i] == "-include"]
        if header not in forced:
            missing.append(e["file"])
    if missing:
        return fail("compiled without -include banned.h: " + ", ".join(missing))
    probe = [e for e in entries if os.path.realpath(
        os.path.join(e["directory"], e["file"])) == os.path.join(root, PROBE)]
    if not probe:
        return fail("%s is not in compile_commands.json" % PROBE)
    cmd, cwd = probe_command(probe[0]), probe[0]["directory"]

    with open(header) as f:
        text = f.read()
    bans = BAN_RE.findall(text)
    block = ALLOW_BLOCK_RE.search(text)
    allowed = {m.group(1): [p.strip() for p in m.group(2).split(",")]
               for m in ALLOW_RE.finditer(block.group(1))} if block else {}
    if not REQUIRED <= set(bans):
        return fail("banned.h no longer bans " + ", ".join(sorted(REQUIRED - set(bans))))
    unproven = sorted(set(bans) - set(CALLS))
    if unproven:
        return fail("no call in banned_check.py to prove the ban of " + ", ".join(unproven))

    problems = []
    with tempfile.TemporaryDirectory(prefix="banned-h-") as tmp:
        with open(os.path.join(root, PROBE)) as f:
            rc, out = compile_text(cmd, cwd, f.read(), [], tmp)
        if rc != 0:
            return fail("the probe does not compile with banned.h:\n" + out)
        for name in bans:
            proto, body = CALLS[name]
            snippet = SNIPPET % {"proto": proto, "body": body}
            rc, out = compile_text(cmd, cwd, snippet, ["-DERGRID_BANNED_STRICT"], tmp)
            marker = "sorry_%s_is_banned_see_banned_h" % name
            if rc == 0:
                problems.append("%s() compiles with banned.h in force" % name)
            elif marker not in out:
                problems.append("%s() fails, but not as banned:\n%s" % (name, out))
            if name not in UNDECLARED_IN_C11:
                rc, out = compile_text(cmd, cwd, snippet, ["-DERGRID_BANNED_H"], tmp)
                if rc != 0:
                    problems.append("%s() snippet is broken without banned.h:\n%s" % (name, out))
            if name in allowed:
                rc, out = compile_text(cmd, cwd, snippet, [], tmp)
                if rc != 0:
                    problems.append("%s() is allow-listed but does not compile:\n%s" % (name, out))

    for name, files in sorted(allowed.items()):
        found = uses(root, name)
        for f in found:
            if f not in files:
                problems.append("%s() in %s: banned (the allow-list names only %s)" % (
                    name, f, ", ".join(files)))
        for f in files:
            if f not in found:
                print("banned-h: note: %s no longer calls %s(): delete it from the "
                      "allow-list in banned.h" % (f, name))
    for p in problems:
        print("banned-h: FAIL: " + p)
    print("banned-h: %d compile commands force banned.h; %d bans proven with %s; "
          "temporary allow-list: %s" % (
              len(entries), len(bans), os.path.basename(cmd[0]),
              "; ".join("%s (%s)" % (n, ", ".join(f)) for n, f in sorted(allowed.items()))
              or "empty"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
