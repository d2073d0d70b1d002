#!/usr/bin/env python3
"""Checks the module dependency table of DESIGN.md section 3 against the includes in src/.

Every `#include "module/..."` in src/<module>/ must name the module itself or one that
<module> depends on: a module listed in its "depends on" column, or one those depend on in
turn (memory may include core because it depends on image, which depends on core). A module
may never include one below it in the table. Prints each forbidden include as
src/FILE:LINE: MODULE must not include "HEADER" (MODULE depends on: ...) and exits 1 if
there is any that KNOWN_VIOLATIONS does not list; exits 0 when the table holds.

Usage: check_deps.py [SRC_DIR]   (default: the src/ beside this script's folder)
       check_deps.py --self-test  (checks the check on a planted tree)
"""

import pathlib
import re
import sys
import tempfile

# DESIGN.md section 3, in its order: module -> its "depends on" column. "all of the above"
# is spelled out as every module above it.
ORDER = ["core", "image", "llm", "memory", "web", "graph", "forge", "motive", "persona",
         "evolve", "runtime", "server", "cli"]
DEPENDS_ON = {
    "core": [],
    "image": ["core"],
    "llm": ["core"],
    "memory": ["core", "image", "llm"],
    "web": ["core"],
    "graph": ["core", "image"],
    "forge": ["core", "image", "llm"],
    "motive": ["core", "image", "graph"],
    "persona": ORDER[:ORDER.index("persona")],
    "evolve": ["llm", "memory", "persona"],
    "runtime": ORDER[:ORDER.index("runtime")],
    "server": ["runtime"],
    "cli": ["runtime", "server"],
}
# Includes that broke the table before this check existed, each with why it is there. They are
# reported on every run but do not fail it; any other forbidden include does. Remove an entry
# when its include is gone (the check then says the entry is stale).
KNOWN_VIOLATIONS = {
    ("forge/tool_forge.h", "motive/event_bus.h"):
        "the Tool Forge publishes TOOL_CREATED and TOOL_FAILED on the event bus itself",
    ("web/web_client.cpp", "memory/ingest.h"):
        "fetched pages are turned into text with memory's html_to_text",
}
SOURCE_SUFFIXES = {".h", ".hpp", ".cpp", ".cc", ".in"}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([A-Za-z0-9_]+)/[^"]*"')


def allowed(module):
    """The module and everything it depends on, directly or through another module."""
    seen = {module}
    todo = list(DEPENDS_ON[module])
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(DEPENDS_ON[m])
    return seen


def check_table():
    """The table itself: each module depends only on modules above it."""
    problems = []
    for module, deps in DEPENDS_ON.items():
        for d in deps:
            if ORDER.index(d) >= ORDER.index(module):
                problems.append(f"table: {module} depends on {d}, which is not above it")
    return problems


def forbidden_includes(src):
    """(file relative to src, line number, module, header) for each include the table forbids."""
    found = []
    for module_dir in sorted(p for p in src.iterdir() if p.is_dir()):
        module = module_dir.name
        if module not in DEPENDS_ON:
            found.append((module, 0, module, ""))
            continue
        ok = allowed(module)
        for path in sorted(module_dir.rglob("*")):
            if not path.is_file() or path.suffix not in SOURCE_SUFFIXES:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for number, line in enumerate(text.splitlines(), 1):
                m = INCLUDE.match(line)
                if m and m.group(1) in DEPENDS_ON and m.group(1) not in ok:
                    found.append((path.relative_to(src).as_posix(), number, module,
                                  line.split('"')[1]))
    return found


def check_sources(src):
    """(problems, notes): forbidden includes that fail the check, and the known ones."""
    problems, notes, seen = [], [], set()
    for rel, number, module, header in forbidden_includes(src):
        if not header:
            problems.append(f"src/{rel}/: not a module of DESIGN.md section 3 (add it to the "
                            f"table in {pathlib.Path(__file__).name})")
            continue
        deps = ", ".join(DEPENDS_ON[module]) or "nothing"
        where = (f"src/{rel}:{number}: {module} must not include \"{header}\" "
                 f"({module} depends on: {deps})")
        if (rel, header) in KNOWN_VIOLATIONS:
            seen.add((rel, header))
            notes.append(f"{where}; known: {KNOWN_VIOLATIONS[(rel, header)]}")
        else:
            problems.append(where)
    for rel, header in sorted(set(KNOWN_VIOLATIONS) - seen):
        notes.append(f"src/{rel} no longer includes \"{header}\": remove its entry from "
                     f"KNOWN_VIOLATIONS")
    return problems, notes


def self_test():
    """The check fails on a tree that breaks the table, naming the file and the include."""
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp)
        planted = {
            "server/front.cpp": '#include "server/api_server.h"\n#include "cli/cli_context.h"\n',
            "web/page.cpp": '#include "core/error.h"\n  #  include "image/image.h"\n',
            "memory/store.cpp": '#include "core/error.h"\n#include "llm/backend.h"\n',
            "cli/main.cpp": '#include "runtime/runtime.h"\n#include "graph/runner.h"\n',
        }
        for rel, text in planted.items():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_text(text)
        problems, _ = check_sources(src)
        expected = [
            'src/server/front.cpp:2: server must not include "cli/cli_context.h"',
            'src/web/page.cpp:2: web must not include "image/image.h"',
        ]
        for e in expected:
            if not any(p.startswith(e) for p in problems):
                print(f"check_deps self-test: expected {e!r} among {problems}")
                return 1
        if len(problems) != len(expected):
            print(f"check_deps self-test: expected only {expected}, got {problems}")
            return 1
    print("check_deps self-test: a planted forbidden include is caught, allowed ones are not")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    default = pathlib.Path(__file__).resolve().parents[1] / "src"
    src = pathlib.Path(argv[1]) if len(argv) > 1 else default
    if not src.is_dir():
        print(f"check_deps: {src}: no such directory", file=sys.stderr)
        return 2
    problems, notes = check_sources(src)
    problems = check_table() + problems
    for line in notes + problems:
        print(line)
    if problems:
        print(f"check_deps: {len(problems)} include(s) break the module table of DESIGN.md "
              f"section 3")
        return 1
    print(f"check_deps: the includes in {src} keep the module table"
          + (f" ({len(notes)} known exception(s) above)" if notes else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
