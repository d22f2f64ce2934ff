"""The README's walk ("A district by hand, step by step"), run verbatim.

Every fenced `sh` block right after a `<!-- walk -->` line of README.md is
taken, in order, as one bash script. Three substitutions only, so the text
can keep its readable addresses and paths:

  127.0.0.1:7000, :7101, :7201  -> free loopback ports picked by the test
  /tmp/                         -> a fresh directory of the test
  $PWD/build/                   -> ERGRID_BUILD (absolute)

A line `# -> STATUS {json}` (or `# -> STATUS text containing: TEXT`) right
after a curl command is the reply it must give: the status, and the JSON
shown as a subset of the reply (every member shown must be there with that
value, recursively; a list shown must appear in the reply's list in that
order, other elements between; an empty list shown means an empty list).
The test wraps curl in a shell function that prints the status after the
body, and brackets each checked command with markers, so the services'
own output (their `listening on` lines) never mixes into a reply.
"""

import json
import os
import re
import signal
import subprocess

import pytest

import ergrid
from test_city import _free_ports

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")
EXPECT_RE = re.compile(r"^# -> (\d{3})(?: (.*))?$")
TEXT_PREFIX = "text containing: "
WALK_TIMEOUT = 120.0


def walk_blocks(text):
    """The walk's blocks: (first line number, lines) of each ```sh block
    right after a <!-- walk --> line."""
    lines = text.split("\n")
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "<!-- walk -->":
            assert i + 1 < len(lines) and lines[i + 1].strip() == "```sh", \
                "README.md:%d: <!-- walk --> must come right before a ```sh fence" % (i + 1)
            j = i + 2
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            blocks.append((i + 3, lines[i + 2:j]))
            i = j
        i += 1
    return blocks


def build_script(blocks):
    """The bash script, and the steps [(README line, command, status, shown)]."""
    out, steps = [], []
    for first, lines in blocks:
        cmd_start = None
        for k, line in enumerate(lines):
            m = EXPECT_RE.match(line)
            if line.startswith("curl "):
                cmd_start = len(out)
            if not m:
                out.append(line)
                continue
            assert cmd_start is not None, "README.md:%d: '# ->' without a curl command before it" \
                % (first + k)
            n = len(steps)
            steps.append((first + k, " ".join(out[cmd_start:]), int(m.group(1)), m.group(2) or ""))
            out.insert(cmd_start, "echo '@@begin %d'" % n)
            out.append("echo; echo '@@end %d'" % n)
            cmd_start = None
    return "\n".join(out) + "\n", steps


def substitute(script, ports, tmp, build):
    for readme_port, port in zip(("7000", "7101", "7201"), ports):
        script = script.replace("127.0.0.1:%s" % readme_port, "127.0.0.1:%d" % port)
    return script.replace("/tmp/", tmp.rstrip("/") + "/").replace("$PWD/build/", build + "/")


def subset(shown, got, path="$"):
    """None when shown is a subset of got, else where they differ."""
    if isinstance(shown, dict):
        if not isinstance(got, dict):
            return "%s: want an object, got %r" % (path, got)
        for k, v in shown.items():
            if k not in got:
                return "%s: no member %r" % (path, k)
            why = subset(v, got[k], "%s.%s" % (path, k))
            if why:
                return why
        return None
    if isinstance(shown, list):
        if not isinstance(got, list):
            return "%s: want a list, got %r" % (path, got)
        if not shown:
            return None if not got else "%s: want an empty list, got %d elements" % (path, len(got))
        at = 0
        for i, v in enumerate(shown):
            while at < len(got) and subset(v, got[at]) is not None:
                at += 1
            if at == len(got):
                return "%s[%d]: no element matching %s (in order)" % (path, i, json.dumps(v))
            at += 1
        return None
    return None if shown == got else "%s: want %r, got %r" % (path, shown, got)


def parse_replies(stdout):
    """{step: (status, body text)} from the markers and curl's status lines."""
    replies, cur, body = {}, None, []
    for line in stdout.split("\n"):
        if line.startswith("@@begin "):
            cur, body = int(line.split()[1]), []
        elif line.startswith("@@end ") and cur is not None:
            text = "\n".join(l for l in body if not l.startswith("listening on http"))
            m = re.search(r"\n?@@status (\d{3})\s*$", text)
            replies[cur] = (int(m.group(1)) if m else None, text[:m.start()] if m else text)
            cur = None
        elif cur is not None:
            body.append(line)
    return replies


def check(step, reply):
    line, cmd, status, shown = step
    if reply is None:
        return "README.md:%d: never ran (the walk stopped before it): %s" % (line, cmd[:120])
    got_status, body = reply
    where = "README.md:%d (%s)" % (line, cmd[:100])
    if got_status != status:
        return "%s: status %s, the README says %d; body %s" % (where, got_status, status,
                                                              body[:600])
    if shown.startswith(TEXT_PREFIX):
        want = shown[len(TEXT_PREFIX):]
        return None if want in body else "%s: %r not in the reply %s" % (where, want, body[:600])
    if not shown:
        return None
    try:
        got = json.loads(body)
    except ValueError:
        return "%s: the reply is not JSON: %s" % (where, body[:600])
    why = subset(json.loads(shown), got)
    return "%s: %s; reply %s" % (where, why, body[:800]) if why else None


def test_readme_walk_blocks_parse():
    """The walk is there and every expectation line is well formed (no
    binaries needed)."""
    with open(README) as f:
        blocks = walk_blocks(f.read())
    assert len(blocks) >= 5, "README.md has %d <!-- walk --> blocks" % len(blocks)
    _, steps = build_script(blocks)
    assert len(steps) >= 20, steps
    for line, _, _, shown in steps:
        if shown and not shown.startswith(TEXT_PREFIX):
            json.loads(shown)  # raises with the README's text at fault


def test_readme_walk_runs_verbatim(tmp_path):
    build = ergrid.build_dir()
    with open(README) as f:
        script, steps = build_script(walk_blocks(f.read()))
    ports = _free_ports(3)
    script = substitute(script, ports, str(tmp_path / "walk"), build)
    os.makedirs(str(tmp_path / "walk"))
    # The test's curl: the status after the body. Services started in the
    # walk are children of this bash, in its own process group (below).
    preamble = "curl() { command curl -w '\\n@@status %{http_code}\\n' \"$@\"; }\n"
    epilogue = "\nkill $(jobs -p) 2>/dev/null; wait\n"
    path = tmp_path / "walk.sh"
    path.write_text(preamble + script + epilogue)
    err_path = tmp_path / "walk.stderr"
    with open(str(err_path), "wb") as err:
        p = subprocess.Popen(["bash", str(path)], stdout=subprocess.PIPE, stderr=err,
                             cwd=str(tmp_path), start_new_session=True)
        try:
            out, _ = p.communicate(timeout=WALK_TIMEOUT * ergrid.scale())
        except subprocess.TimeoutExpired:
            out = None  # what it printed so far is read below
        finally:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the services too, whatever happened
            except ProcessLookupError:
                pass
        if out is None:
            out, _ = p.communicate()
    stdout = out.decode(errors="replace")
    replies = parse_replies(stdout)
    problems = [why for i, step in enumerate(steps) for why in [check(step, replies.get(i))] if why]
    log = err_path.read_bytes().decode(errors="replace")
    # The walk's refused report names the same unit and attempt as the
    # record: the broker's log line tells them apart by sender.
    rejected = ("outcome contained from LAFD-1 attempt 1 (sent by dispatcher:desk) rejected: "
                "outcome contained from LAFD-1 attempt 1 was first")
    if rejected not in log:
        problems.append("the broker's log has no line %r" % rejected)
    if problems:
        tail = log[-4000:]
        pytest.fail("%d of %d README replies differ:\n%s\n--- stderr of the walk (tail):\n%s"
                    % (len(problems), len(steps), "\n".join(problems), tail), pytrace=False)
