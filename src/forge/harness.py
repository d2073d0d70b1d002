# The Tool Forge's harness: the only code of ours that runs inside the sandbox, beside a
# generated tool. A4PS owns the result channel: this parent process reads a nonce from stdin,
# makes itself non-dumpable (so no other process of the same user can read its memory or file
# descriptors through /proc), runs the generated code in a child process and writes the one
# report A4PS trusts, with the nonce, to its own stdout. The generated code never sees the
# nonce or that stdout: whatever it prints, however it exits, it cannot write a passing report.
#
#   python3 -I harness.py test TOOL   runs test_tool.py against tool.py (both in /work)
#   python3 -I harness.py call TOOL   calls TOOL(**arguments) from tool.py
# stdin: {"nonce": "...", "arguments": {...}, "timeout_s": N}
import ast
import ctypes
import json
import os
import subprocess
import sys

WORK = os.path.dirname(os.path.abspath(__file__))
MAX_TEXT = 2000  # of a message, an output or a traceback in the report


def cut(text):
    text = str(text)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT // 2] + "\n[...]\n" + text[-MAX_TEXT // 2 :]


def calls_tool(node, tool, derived):
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == tool:
            return True
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == tool:
            return True
        if isinstance(sub, ast.Name) and sub.id in derived:
            return True
    return False


def constant_test(test):
    return isinstance(test, ast.Constant) or (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Constant)
        and all(isinstance(c, ast.Constant) for c in test.comparators)
    )


def vacuity(fn, tool):
    """Why test function `fn` is vacuous, or None: it must assert on what the tool returned."""
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
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except Exception:
        pass  # the sandbox is still the boundary; this only protects the report


def run_child(mode, tool, extra, stdin_text, timeout_s):
    """Runs the generated code in a child; its output goes to a file in /tmp, so a flood of it
    is bounded by the sandbox's file-size and /tmp limits, not by this process's memory."""
    read_fd, write_fd = os.pipe()
    argv = [sys.executable, "-I", "-B", os.path.abspath(__file__), "child-" + mode, tool] + extra
    with open("/tmp/.a4ps-child-output", "w+b") as output, open("/tmp/.a4ps-child-input", "w+b") as given:
        given.write(stdin_text.encode())
        given.seek(0)
        try:
            proc = subprocess.Popen(
                argv + [str(write_fd)], stdin=given, stdout=output, stderr=subprocess.STDOUT,
                pass_fds=(write_fd,), cwd=WORK, start_new_session=True)
        finally:
            os.close(write_fd)
        with os.fdopen(read_fd, "r", encoding="utf-8", errors="replace") as channel:
            lines, status = read_channel(channel, proc, timeout_s)
        output.seek(0)
        text = output.read(MAX_TEXT * 4).decode("utf-8", "replace")
    return lines, text, status


def read_channel(channel, proc, timeout_s):
    """The child's report lines and exit status, or (None, why) when it ran out of time."""
    import selectors
    import time

    deadline = time.monotonic() + timeout_s
    data, sel = [], selectors.DefaultSelector()
    sel.register(channel, selectors.EVENT_READ)
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not sel.select(left):
            os.killpg(proc.pid, 9)
            proc.wait()
            return None, "the tool did not finish within %s s" % timeout_s
        chunk = os.read(channel.fileno(), 65536)
        if not chunk:
            break
        data.append(chunk)
        if sum(len(c) for c in data) > 1 << 20:
            os.killpg(proc.pid, 9)
            proc.wait()
            return None, "the tool flooded the report channel"
    try:
        status = proc.wait(max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        return None, "the tool did not exit within %s s" % timeout_s
    return b"".join(data).decode("utf-8", "replace").splitlines(), status


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
    mode, tool = sys.argv[1], sys.argv[2]
    if mode.startswith("child-"):
        report = os.fdopen(int(sys.argv[-1]), "w", encoding="utf-8")
        del sys.argv[-1]
        (child_test if mode == "child-test" else child_call)(tool, report)
        return
    parent(mode, tool)


if __name__ == "__main__":
    main()
