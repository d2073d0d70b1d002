#!/usr/bin/env python3
"""The docs and the command agree: every `a4ps` command and long option that docs/cli.md or the
README names exists (as `a4ps ... --help` lists it), and docs/cli.md names every command and
every option there is. Fails with the list of what is missing on either side.

usage: docs_match_cli.py A4PS_BIN DOCS_CLI_MD [OTHER_DOC.md ...]

How the docs are read: only code (`inline` spans and fenced blocks) counts. A *mention* is code
that runs a4ps ("a4ps [GLOBAL OPTIONS] COMMAND [SUBCOMMAND] ..."; "a|b|c" names alternatives);
its long options belong to the command it names. Other long options in code belong to the
section's commands: those its heading mentions (or, with no mention in the heading, any
command). An option of a command is documented when it appears for that command or for one of
its ancestors (so "every `memory` command takes `--json`" documents it for all of them).
"""

import re
import subprocess
import sys

OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
WORD = re.compile(r"^[a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)*$")


def read_help(a4ps, path):
    """(subcommands, {option: takes_value}) of `a4ps PATH... --help`."""
    out = subprocess.run([a4ps, *path, "--help"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"a4ps {' '.join(path)} --help exited {out.returncode}: {out.stderr}")
    subcommands, options, section = [], {}, None
    for line in out.stdout.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            section = line.rstrip()[:-1]
            continue
        # Entries are indented by two; wrapped descriptions by more.
        if not line.startswith("  ") or line.startswith("   "):
            continue
        first = line.strip().split("  ")[0].split()
        if section == "Subcommands":
            subcommands.append(first[0])
        elif section not in (None, "Positionals") and first[0].startswith("-"):
            for name in first[0].split(","):
                if name.startswith("--"):
                    options[name] = len(first) > 1
    return subcommands, options


def command_tree(a4ps):
    """{path tuple: (subcommands, options)} for a4ps and every command below it."""
    tree, todo = {}, [()]
    while todo:
        path = todo.pop()
        tree[path] = read_help(a4ps, list(path))
        todo.extend(path + (sub,) for sub in tree[path][0])
    return tree


def parse_mention(tree, code, is_block):
    """(paths, option text, unknown command words) when `code` runs a4ps, else None."""
    if is_block:
        code = re.split(r"(?:^|\s)#\s", code)[0]  # a shell comment
    match = re.search(r"(?:^|[\s/$(])a4ps(?=\s|$)", code)
    if not match:
        return None
    rest = code[match.end():]
    if is_block:
        rest = re.split(r"\s(?:&&|\|\||\||;|>|#)\s", rest)[0]
    else:
        rest = re.sub(r"\s*\|\s*", "|", rest)
    rest = rest.split(" -- ")[0]  # what follows `--` is another program's
    tokens = rest.split()
    globals_ = tree[()][1]
    paths, unknown, i = [()], [], 0
    while i < len(tokens):
        token = tokens[i].rstrip(",")
        if token.startswith("-"):
            i += 2 if globals_.get(token) and len(paths) == 1 and paths[0] == () else 1
            continue
        subcommands = tree[paths[0]][0]
        if len(paths) > 1 or not subcommands or not WORD.match(token):
            break
        names = token.split("|")
        missing = [n for n in names if n not in subcommands]
        unknown += [" ".join(paths[0] + (n,)) for n in missing]
        found = [paths[0] + (n,) for n in names if n in subcommands]
        if not found:
            break
        paths = found
        i += 1
    return paths, rest, unknown


def check(a4ps, doc_paths):
    tree = command_tree(a4ps)
    problems = []
    # What docs/cli.md says, for the reverse check.
    documented_commands, documented_options, anywhere = set(), set(), set()
    for doc_index, doc in enumerate(doc_paths):
        primary = doc_index == 0
        with open(doc, encoding="utf-8") as f:
            text = f.read()
        section_paths = None
        in_block = False
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip().startswith("```"):
                in_block = not in_block
                continue
            if not in_block and line.startswith("#"):
                spans = [s.replace("\\|", "|") for s in re.findall(r"`([^`]+)`", line)]
                mentions = [parse_mention(tree, s, False) for s in spans]
                section_paths = [p for m in mentions if m for p in m[0] if p != ()] or None
            if not in_block and line.count("`") % 2 == 1:
                problems.append(f"{doc}:{number}: a code span runs across lines; this check reads a line at a time")
            pieces = [line] if in_block else [s.replace("\\|", "|") for s in re.findall(r"`([^`]+)`", line)]
            for code in pieces:
                mention = parse_mention(tree, code, in_block)
                if mention:
                    paths, option_text, unknown = mention
                    for name in unknown:
                        problems.append(f"{doc}:{number}: names `a4ps {name}`, which is not a command")
                    if primary:
                        documented_commands.update(p[:n] for p in paths for n in range(1, len(p) + 1))
                    owners, strict = paths, True
                else:
                    if in_block:
                        continue  # other programs' command lines and files
                    option_text = code
                    owners, strict = section_paths, False
                for option in OPTION.findall(option_text):
                    anywhere.add(option)
                    if owners is None:
                        if not any(option in opts for _, opts in tree.values()):
                            problems.append(f"{doc}:{number}: names {option}, which no a4ps command has")
                        continue
                    ok = False
                    for owner in owners:
                        candidates = [owner] if strict else [p for p in tree if p[: len(owner)] == owner]
                        if option in tree[()][1] or any(option in tree[c][1] for c in candidates):
                            ok = True
                            if primary:
                                documented_options.add((owner, option))
                    if not ok:
                        names = ", ".join("a4ps " + " ".join(o) for o in owners)
                        problems.append(f"{doc}:{number}: names {option} for {names}, which has no such option")
    # The reverse: docs/cli.md names every command and option.
    for path, (_, options) in sorted(tree.items()):
        if path and path not in documented_commands:
            problems.append(f"{doc_paths[0]} does not document `a4ps {' '.join(path)}`")
        for option in sorted(options):
            if option == "--help":
                continue
            if path == ():
                covered = option in anywhere
            else:
                covered = any((path[:n], option) in documented_options for n in range(1, len(path) + 1))
            if not covered:
                problems.append(f"{doc_paths[0]} does not document `a4ps {' '.join(path)} {option}`".replace("  ", " "))
    return problems


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    problems = check(sys.argv[1], sys.argv[2:])
    for p in dict.fromkeys(problems):
        print(p)
    if problems:
        print(f"FAIL: {len(dict.fromkeys(problems))} difference(s) between the docs and the command")
        sys.exit(1)
    print("the docs and the command agree")


if __name__ == "__main__":
    main()
