# The Tool Forge's harness: the only code of ours that runs inside the sandbox, beside a
# generated tool. A4PS owns the result channel: this parent process reads a nonce from stdin,
# makes itself non-dumpable (so no other process of the same user can read its memory or file
# descriptors through /proc or ptrace), and writes the one report A4PS trusts, with the nonce,
# to its own stdout. The generated code runs in forked children that keep no descriptor to that
# stdout. For tests, the tool runs in its own process and the tests in another, calling it
# through a JSON proxy: the tool's code shares nothing with the process that runs and reports
# the tests, so whatever it prints, however it exits, it cannot make a test pass.
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


def make_undumpable():
    """No other process of this user may then read this one's memory or descriptors through
    /proc or ptrace; forked children inherit it (until an exec, which the harness never does)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except Exception:
        pass  # the sandbox is still the boundary; this only protects the report


def spawn(body, fds, stdin_fd, output_fd):
    """Forks a child in its own process group with stdin from `stdin_fd`, stdout and stderr to
    `output_fd`, descriptor `target` for each {target: source} in `fds`, and no other; it runs
    body() and exits. Returns its pid."""
    import fcntl

    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setpgid(0, 0)
        # Copies above every target first, so that no dup2 below overwrites a source still needed.
        high = {target: fcntl.fcntl(source, fcntl.F_DUPFD, 6) for target, source in fds.items()}
        os.dup2(stdin_fd, 0)
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        for target, fd in high.items():
            os.dup2(fd, target)
        for fd in [int(name) for name in os.listdir("/proc/self/fd")]:
            if fd > max(fds, default=2):
                try:
                    os.close(fd)
                except OSError:
                    pass  # the listing's own descriptor, already gone
        sys.stdin = open(0, "r", encoding="utf-8", closefd=False)
        os.chdir(WORK)
        sys.path.insert(0, WORK)
        body()
        code = 0
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def write_line(stream, value):
    stream.write(json.dumps(value) + "\n")
    stream.flush()


def serve_tool(tool):
    """The tool's process: imports tool.py and answers calls, one JSON line each way (fd 3 in,
    fd 4 out). It shares no memory or descriptor with the tests' process, so it cannot touch
    how they run or what they report."""
    import importlib

    calls, results = os.fdopen(3, "r", encoding="utf-8"), os.fdopen(4, "w", encoding="utf-8")
    try:
        fn = getattr(importlib.import_module("tool"), tool)
    except BaseException as e:  # SystemExit at import is a failure too
        write_line(results, {"import_error": user_traceback(e)})
        return
    write_line(results, {"ready": True})
    for line in calls:
        call = json.loads(line)
        try:
            value = fn(*call["args"], **call["kwargs"])
        except BaseException as e:
            sys.stdout.flush()  # the parent kills this process once the tests end
            write_line(results, {"error": type(e).__name__, "message": cut(e), "traceback": user_traceback(e)})
            continue
        sys.stdout.flush()
        try:
            text = json.dumps({"result": value}, allow_nan=False)
        except (TypeError, ValueError) as e:
            write_line(results, {"error": "TypeError", "message": "the tool returned a value that is not JSON: %s" % e})
            continue
        results.write(text + "\n")
        results.flush()


def tool_proxy(tool, calls, results):
    """What the tests import as tool.TOOL: sends the call to the tool's process as JSON and
    returns its JSON result, or raises its exception (a builtin type by name, else RuntimeError)."""
    import builtins

    def proxy(*args, **kwargs):
        try:
            text = json.dumps({"args": list(args), "kwargs": kwargs}, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise TypeError("%s() takes JSON values only: %s" % (tool, e)) from None
        calls.write(text + "\n")
        calls.flush()
        line = results.readline()
        if not line:
            raise RuntimeError("the tool's process ended during a call of %s()" % tool)
        try:
            reply = json.loads(line)
        except ValueError:
            reply = None
        if not isinstance(reply, dict) or not ("result" in reply or "error" in reply):
            raise RuntimeError("the tool's process answered a call of %s() with something that is not a result" % tool)
        if "error" not in reply:
            return reply["result"]
        cls = getattr(builtins, reply["error"], None)
        if not (isinstance(cls, type) and issubclass(cls, Exception)):
            cls = RuntimeError
        raise cls("%s\n(raised in the tool: %s)" % (reply.get("message", ""), reply.get("traceback", "")))

    proxy.__name__ = tool
    return proxy


def run_tests(tool, names):
    """The tests' process: `tool` is a proxy module, the report goes to fd 3, one line per
    test, then an end line; fd 4 carries calls to the tool's process and fd 5 its answers."""
    import importlib
    import types

    report = os.fdopen(3, "w", encoding="utf-8")
    calls, results = os.fdopen(4, "w", encoding="utf-8"), os.fdopen(5, "r", encoding="utf-8")
    ready = json.loads(results.readline() or '{"import_error": "the tool\'s process ended while importing tool.py"}')
    if "import_error" in ready:
        write_line(report, {"import_error": ready["import_error"]})
        return
    module = types.ModuleType("tool")
    setattr(module, tool, tool_proxy(tool, calls, results))
    sys.modules["tool"] = module
    try:
        tests = importlib.import_module("test_tool")
    except BaseException as e:
        write_line(report, {"import_error": user_traceback(e)})
        return
    for name in names:
        entry = {"test": name, "outcome": "passed"}
        try:
            getattr(tests, name)()
        except AssertionError as e:
            entry = {"test": name, "outcome": "failed", "message": user_traceback(e), "assertion": cut(e)}
        except BaseException as e:
            entry = {"test": name, "outcome": "error", "message": user_traceback(e)}
        write_line(report, entry)
    write_line(report, {"end": True})


def call_once(tool):
    """The tool's process for one call: arguments on stdin, the JSON result on fd 3."""
    import importlib

    report = os.fdopen(3, "w", encoding="utf-8")
    arguments = json.loads(sys.stdin.read())
    try:
        result = getattr(importlib.import_module("tool"), tool)(**arguments)
        text = json.dumps({"result": result}, allow_nan=False)
    except BaseException as e:
        text = json.dumps({"error": user_traceback(e)})
    report.write(text + "\n")
    report.flush()


def run_children(mode, tool, names, stdin_text, timeout_s):
    """Runs the generated code: for tests, the tool's process and the tests' process; for a
    call, the tool's process alone. Their output goes to a file in /tmp, so a flood of it is
    bounded by the sandbox's file-size and /tmp limits, not by this process's memory.
    Returns (report lines or None, output, status or why)."""
    with open("/tmp/.a4ps-child-output", "w+b") as output, open("/tmp/.a4ps-child-input", "w+b") as given:
        given.write(stdin_text.encode())
        given.flush()
        given.seek(0)
        report_r, report_w = os.pipe()
        pids = []
        if mode == "test":
            calls_r, calls_w = os.pipe()
            results_r, results_w = os.pipe()
            pids.append(spawn(lambda: serve_tool(tool), {3: calls_r, 4: results_w}, given.fileno(), output.fileno()))
            pids.append(spawn(lambda: run_tests(tool, names), {3: report_w, 4: calls_w, 5: results_r}, given.fileno(), output.fileno()))
            for fd in (calls_r, calls_w, results_r, results_w):
                os.close(fd)
        else:
            pids.append(spawn(lambda: call_once(tool), {3: report_w}, given.fileno(), output.fileno()))
        os.close(report_w)
        with os.fdopen(report_r, "r", encoding="utf-8", errors="replace") as channel:
            lines, status = read_channel(channel, pids, timeout_s)
        output.seek(0)
        text = output.read(MAX_TEXT * 4).decode("utf-8", "replace")
    return lines, text, status


def kill_all(pids):
    for pid in pids:
        try:
            os.killpg(pid, 9)  # the child's whole group: daemons and stragglers too
        except OSError:
            pass
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def read_channel(channel, pids, timeout_s):
    """The report lines and the reporting child's exit status (the last pid), or (None, why)
    when the children ran out of time or flooded the channel. Every child is gone after."""
    import selectors
    import time

    deadline = time.monotonic() + timeout_s
    data, sel = [], selectors.DefaultSelector()
    sel.register(channel, selectors.EVENT_READ)
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not sel.select(left):
            kill_all(pids)
            return None, "the tool did not finish within %s s" % timeout_s
        chunk = os.read(channel.fileno(), 65536)
        if not chunk:
            break
        data.append(chunk)
        if sum(len(c) for c in data) > 1 << 20:
            kill_all(pids)
            return None, "the tool flooded the report channel"
    reporter = pids[-1]
    while True:
        done, status = os.waitpid(reporter, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            kill_all(pids)
            return None, "the tool did not exit within %s s" % timeout_s
        time.sleep(0.005)
    kill_all(pids[:-1])
    try:
        os.killpg(reporter, 9)
    except OSError:
        pass
    return b"".join(data).decode("utf-8", "replace").splitlines(), os.waitstatus_to_exitcode(status)


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
            lines, output, status = run_children("test", tool, names, "", timeout_s)
            if lines is None:
                report.update(ok=False, problem=status, tests=[])
            else:
                ok, results, problem = judge_tests(tool, names, lines, status)
                report.update(ok=ok, problem=problem, tests=results)
            report["output"] = cut(output)
    else:
        lines, output, status = run_children("call", tool, [], json.dumps(request.get("arguments", {})), timeout_s)
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
