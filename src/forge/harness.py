# The Tool Forge's harness: the only code of ours that runs inside the sandbox, beside a
# generated tool. A4PS owns the result channel: this parent process reads a nonce from stdin,
# makes itself non-dumpable (so no other process of the same user can read its memory or file
# descriptors through /proc), runs the generated code in a forked child that keeps no
# descriptor but its own output file and a report pipe, and writes the one report A4PS trusts,
# with the nonce, to its own stdout. The generated code has no way to that stdout: whatever it
# prints, however it exits, it cannot write a passing report.
#
#   python3 -I -B -S harness.py test TOOL   runs test_tool.py against tool.py (both in /work)
#   python3 -I -B -S harness.py call TOOL   calls TOOL(**arguments) from tool.py
# stdin: {"nonce": "...", "arguments": {...}, "timeout_s": N}
import json
import os
import sys

WORK = os.path.dirname(os.path.abspath(__file__))
MAX_TEXT = 2000  # of a message, an output or a traceback in the report


def cut(text):
    text = str(text)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT // 2] + "\n[...]\n" + text[-MAX_TEXT // 2 :]


def calls_tool(node, tool, derived):
    import ast

    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == tool:
            return True
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == tool:
            return True
        if isinstance(sub, ast.Name) and sub.id in derived:
            return True
    return False


def constant_test(test):
    import ast

    return isinstance(test, ast.Constant) or (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Constant)
        and all(isinstance(c, ast.Constant) for c in test.comparators)
    )


def vacuity(fn, tool):
    """Why test function `fn` is vacuous, or None: it must assert on what the tool returned."""
    import ast

    derived = set()
    for node in ast.walk(fn):  # names bound to (something computed from) a call of the tool
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and node.value is not None:
            if calls_tool(node.value, tool, derived):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            derived.add(n.id)
    asserts = [n for n in ast.walk(fn) if isinstance(n, ast.Assert)]
    raises = [
        n
        for n in ast.walk(fn)
        if isinstance(n, ast.With)
        and any("raises" in ast.dump(item.context_expr) for item in n.items)
        and calls_tool(n, tool, derived)
    ]
    if not asserts and not raises:
        return "it has no assert statement"
    real = [a for a in asserts if not constant_test(a.test) and calls_tool(a.test, tool, derived)]
    if not real and not raises:
        return "none of its asserts checks a value returned by %s()" % tool
    return None


def plan_tests(tool):
    """The test functions, in file order, after the static checks; raises ValueError."""
    import ast

    try:
        source = open(os.path.join(WORK, "tool.py"), encoding="utf-8").read()
        module = ast.parse(source, "tool.py")
    except SyntaxError as e:
        raise ValueError("tool.py does not parse: %s (line %s)" % (e.msg, e.lineno))
    if not any(isinstance(n, ast.FunctionDef) and n.name == tool for n in module.body):
        raise ValueError("tool.py does not define a function %s()" % tool)
    try:
        tests = ast.parse(open(os.path.join(WORK, "test_tool.py"), encoding="utf-8").read(), "test_tool.py")
    except SyntaxError as e:
        raise ValueError("test_tool.py does not parse: %s (line %s)" % (e.msg, e.lineno))
    functions = [n for n in tests.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test")]
    if not functions:
        raise ValueError("test_tool.py has no test functions (def test_...():)")
    vacuous = [(f.name, vacuity(f, tool)) for f in functions]
    vacuous = ["%s: %s" % (name, why) for name, why in vacuous if why]
    if vacuous:
        raise ValueError("vacuous tests rejected before running: " + "; ".join(vacuous))
    return [f.name for f in functions]


def user_traceback(e):
    """The exception's traceback without the harness's own frames: what the author must fix."""
    import traceback

    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename != os.path.abspath(__file__)]
    last = "".join(traceback.format_exception_only(type(e), e))
    if not frames:
        return cut(last)
    return cut("Traceback (most recent call last):\n" + "".join(traceback.format_list(frames[-4:])) + last)


def child_test(tool, report):
    """In the child: runs each test, one JSON line per test on `report`, then an end line."""
    import importlib

    sys.path.insert(0, WORK)
    try:
        importlib.import_module("tool")
        tests = importlib.import_module("test_tool")
    except BaseException as e:  # SystemExit at import is a failure too
        report.write(json.dumps({"import_error": user_traceback(e)}) + "\n")
        report.flush()
        return
    for name in sys.argv[3:]:
        entry = {"test": name, "outcome": "passed"}
        try:
            getattr(tests, name)()
        except AssertionError as e:
            entry = {"test": name, "outcome": "failed", "message": user_traceback(e), "assertion": cut(e)}
        except BaseException as e:
            entry = {"test": name, "outcome": "error", "message": user_traceback(e)}
        report.write(json.dumps(entry) + "\n")
        report.flush()
    report.write(json.dumps({"end": True}) + "\n")
    report.flush()


def child_call(tool, report):
    import importlib

    sys.path.insert(0, WORK)
    arguments = json.loads(sys.stdin.read())
    try:
        fn = getattr(importlib.import_module("tool"), tool)
        result = fn(**arguments)
        text = json.dumps({"result": result})
    except BaseException as e:
        text = json.dumps({"error": user_traceback(e)})
    report.write(text + "\n")
    report.flush()


def make_undumpable():
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except Exception:
        pass  # the sandbox is still the boundary; this only protects the report


def run_child(mode, tool, extra, stdin_text, timeout_s):
    """Runs the generated code in a forked child (a second interpreter would double the start-up
    cost, which gVisor makes large). Its output goes to a file in /tmp, so a flood of it is
    bounded by the sandbox's file-size and /tmp limits, not by this process's memory."""
    read_fd, write_fd = os.pipe()
    with open("/tmp/.a4ps-child-output", "w+b") as output, open("/tmp/.a4ps-child-input", "w+b") as given:
        given.write(stdin_text.encode())
        given.flush()
        given.seek(0)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            become_child(mode, tool, extra, given.fileno(), output.fileno(), read_fd, write_fd)
        os.close(write_fd)
        with os.fdopen(read_fd, "r", encoding="utf-8", errors="replace") as channel:
            lines, status = read_channel(channel, pid, timeout_s)
        output.seek(0)
        text = output.read(MAX_TEXT * 4).decode("utf-8", "replace")
    return lines, text, status


def become_child(mode, tool, extra, stdin_fd, output_fd, read_fd, write_fd):
    """In the forked child: its own process group, stdin from the input file, stdout and stderr
    to the output file, the report pipe as fd 3 and no other descriptor (so no way to the
    parent's stdout, where the trusted report goes); then the tool's code. Never returns."""
    code = 1
    try:
        os.setpgid(0, 0)
        os.dup2(stdin_fd, 0)
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        if write_fd != 3:
            os.dup2(write_fd, 3)
        for fd in [int(name) for name in os.listdir("/proc/self/fd")]:
            if fd > 3:
                try:
                    os.close(fd)
                except OSError:
                    pass  # the listing's own descriptor, already gone
        sys.stdin = open(0, "r", encoding="utf-8", closefd=False)
        sys.argv = [os.path.abspath(__file__), "child-" + mode, tool] + list(extra)
        os.chdir(WORK)
        report = os.fdopen(3, "w", encoding="utf-8")
        (child_test if mode == "test" else child_call)(tool, report)
        code = 0
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def kill_child(pid):
    try:
        os.killpg(pid, 9)
    except OSError:
        pass
    os.waitpid(pid, 0)


def read_channel(channel, pid, timeout_s):
    """The child's report lines and exit status, or (None, why) when it ran out of time."""
    import selectors
    import time

    deadline = time.monotonic() + timeout_s
    data, sel = [], selectors.DefaultSelector()
    sel.register(channel, selectors.EVENT_READ)
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not sel.select(left):
            kill_child(pid)
            return None, "the tool did not finish within %s s" % timeout_s
        chunk = os.read(channel.fileno(), 65536)
        if not chunk:
            break
        data.append(chunk)
        if sum(len(c) for c in data) > 1 << 20:
            kill_child(pid)
            return None, "the tool flooded the report channel"
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            kill_child(pid)
            return None, "the tool did not exit within %s s" % timeout_s
        time.sleep(0.005)
    # Whatever the child left in its process group (daemons, stragglers) ends with it.
    try:
        os.killpg(pid, 9)
    except OSError:
        pass
    code = os.waitstatus_to_exitcode(status)
    return b"".join(data).decode("utf-8", "replace").splitlines(), code


def parse_lines(lines):
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            return None
    return entries


def judge_tests(tool, names, lines, status):
    entries = parse_lines(lines or [])
    if entries is None:
        return False, [], "the test process wrote something that is not a result to the report channel"
    if entries and "import_error" in entries[0]:
        return False, [], "importing the tool or its tests failed: " + entries[0]["import_error"]
    results = [e for e in entries if "test" in e]
    ended = any(e.get("end") for e in entries)
    if [r.get("test") for r in results] != names[: len(results)] or not ended or len(results) != len(names):
        return False, results, "the test process ended (status %s) before reporting every test" % status
    if status != 0:
        return False, results, "the test process exited with status %s" % status
    failed = [r for r in results if r.get("outcome") != "passed"]
    if failed:
        return False, results, "%d of %d tests failed" % (len(failed), len(results))
    return True, results, ""


def parent(mode, tool):
    request = json.loads(sys.stdin.read())
    nonce = request.pop("nonce")
    make_undumpable()
    timeout_s = float(request.get("timeout_s", 10))
    report = {"nonce": nonce, "mode": mode, "tool": tool}
    if mode == "test":
        try:
            names = plan_tests(tool)
        except ValueError as e:
            report.update(ok=False, problem=str(e), static=True, tests=[])
        else:
            lines, output, status = run_child("test", tool, names, "", timeout_s)
            if lines is None:
                report.update(ok=False, problem=status, tests=[])
            else:
                ok, results, problem = judge_tests(tool, names, lines, status)
                report.update(ok=ok, problem=problem, tests=results)
            report["output"] = cut(output)
    else:
        lines, output, status = run_child("call", tool, [], json.dumps(request.get("arguments", {})), timeout_s)
        entries = parse_lines(lines or [])
        if lines is None:
            report.update(ok=False, problem=status)
        elif not entries or len(entries) != 1:
            report.update(ok=False, problem="the tool process exited (status %s) without a result" % status)
        elif "error" in entries[0]:
            report.update(ok=False, problem="the tool raised: " + entries[0]["error"])
        else:
            report.update(ok=True, result=entries[0]["result"])
        report["output"] = cut(output)
    sys.stdout.write("\n" + json.dumps(report) + "\n")
    sys.stdout.flush()


def main():
    parent(sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    main()
