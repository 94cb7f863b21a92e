#!/usr/bin/env python3
"""Where two callgrind profiles differ: the self cost of each function (or of each
source line within each function) in both, largest difference first.

    python3 bench/cgdiff.py OLD NEW [--lines | --own PREFIX] [--event Ir|D1mr|Bcm|...]
                            [--top N] [--match TEXT]

OLD and NEW are callgrind output files (`bash bench/count.sh` keeps them with
`KEEP=DIR`). A function's self cost includes the code the compiler inlined into it,
which is where most of a Rust program's time is found; `--lines` splits it by the
source line (the inlined library line included) the cost was counted at, which needs
a build with line tables (`PROFILE=bench-release`). `--own PREFIX` counts each
instruction at the innermost inlined line whose file's path (relative to this folder)
starts with PREFIX (`src/`: the project's own line that an inlined `Vec::push` or
slice index came from), which
needs profiles with instruction addresses (`count.sh` keeps them so), `addr2line`
(binutils) to read the binary's inlining, and the binary each profile names still as
it was counted. Only standard Python.
"""
from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
from typing import Callable, Counter, Dict, Iterable, List, Optional, Tuple

Key = Tuple[str, str, int]  # function, file, line
At = Tuple[str, str, int]  # object file, function, instruction address
# The inlined frames at each address of an object file, innermost first, as
# (function, "file:line").
Resolver = Callable[[str, List[int]], Dict[int, List[Tuple[str, str]]]]


class Profile:
    """The self costs of one callgrind output file, by function, file and line."""

    def __init__(self, path: str, event: str):
        self.path = path
        self.event = event
        self.total = 0
        self.cost: Counter[Key] = collections.Counter()
        # By instruction, when the file has their addresses (`--dump-instr=yes`).
        self.at: Counter[At] = collections.Counter()
        self._read()

    def _read(self) -> None:
        # Names may be given once in full, as "(id) name", and later as "(id)";
        # files and functions have their own tables.
        files: Dict[str, str] = {}
        functions: Dict[str, str] = {}
        objects: Dict[str, str] = {}

        def name(table: Dict[str, str], text: str) -> str:
            text = text.strip()
            if text.startswith("("):
                ident, _, rest = text[1:].partition(")")
                rest = rest.strip()
                if rest:
                    table[ident] = rest
                return table.get(ident, f"({ident})")
            return text

        column: Optional[int] = None
        fn, file, inlined, obj = "?", "?", None, "?"
        line = addr = 0
        # With `positions: instr line` each cost line starts with an address.
        instr = False
        skip_next = False
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for raw in fh:
                text = raw.rstrip("\n")
                if not text:
                    continue
                head = text[0]
                if head.isdigit() or head in "+-*":
                    fields = text.split()
                    if instr:
                        pos = fields.pop(0)
                        if pos == "*":
                            pass
                        elif pos[0] in "+-":
                            addr += int(pos, 0)
                        else:
                            addr = int(pos, 0)
                    pos = fields[0]
                    if pos == "*":
                        pass
                    elif pos[0] in "+-":
                        line += int(pos)
                    else:
                        line = int(pos)
                    if skip_next:
                        # The inclusive cost of the call named on the line before:
                        # counted where the callee's own lines are.
                        skip_next = False
                        continue
                    if column is not None and len(fields) > column + 1:
                        self.cost[(fn, inlined or file, line)] += int(fields[column + 1])
                        if instr:
                            self.at[(obj, fn, addr)] += int(fields[column + 1])
                    continue
                key, _, value = text.partition("=")
                if text.startswith("positions:"):
                    instr = "instr" in text.split(":", 1)[1].split()
                elif text.startswith("events:"):
                    events = text.split(":", 1)[1].split()
                    if self.event not in events:
                        raise SystemExit(f"cgdiff: {self.path} has no event {self.event} (it has {', '.join(events)})")
                    column = events.index(self.event)
                elif text.startswith("summary:") or text.startswith("totals:"):
                    fields = text.split(":", 1)[1].split()
                    if column is not None and len(fields) > column:
                        self.total = int(fields[column])
                elif key == "fl":
                    file, inlined = name(files, value), None
                elif key in ("fi", "fe"):
                    inlined = name(files, value)
                elif key == "fn":
                    fn, inlined = name(functions, value), None
                elif key in ("cfi", "cfl"):
                    name(files, value)
                elif key == "cfn":
                    name(functions, value)
                elif key == "ob":
                    obj = name(objects, value)
                elif key == "cob":
                    name(objects, value)
                elif key == "calls":
                    skip_next = True
        if column is None:
            raise SystemExit(f"cgdiff: {self.path} has no events line; is it a callgrind output file?")

    def by_function(self) -> Counter[Tuple[str]]:
        out: Counter[Tuple[str]] = collections.Counter()
        for (fn, _, _), v in self.cost.items():
            out[(fn,)] += v
        return out

    def by_line(self) -> Counter[Tuple[str, str]]:
        out: Counter[Tuple[str, str]] = collections.Counter()
        for (fn, file, line), v in self.cost.items():
            out[(fn, f"{short(file)}:{line}")] += v
        return out


    def by_own(self, own: str, resolve: Resolver) -> Counter[Tuple[str, str]]:
        """Each instruction's cost at the innermost inlined line whose file's path
        (relative to this folder) starts with `own`; "(other)" where none does."""
        if not self.at:
            raise SystemExit(
                f"cgdiff: {self.path} has no instruction addresses "
                "(callgrind's --dump-instr=yes; count.sh keeps them with KEEP=DIR)"
            )
        by_object: Dict[str, List[int]] = collections.defaultdict(list)
        for obj, _, addr in self.at:
            by_object[obj].append(addr)
        frames = {obj: resolve(obj, sorted(set(addrs))) for obj, addrs in by_object.items()}
        out: Counter[Tuple[str, str]] = collections.Counter()
        for (obj, fn, addr), v in self.at.items():
            where = next(
                (loc for _, loc in frames[obj].get(addr, []) if short(loc).startswith(own)),
                "(other)",
            )
            out[(fn, short(where))] += v
        return out


def addr2line(obj: str, addrs: List[int]) -> Dict[int, List[Tuple[str, str]]]:
    """The inlined frames at each address of `obj`, innermost first, read with
    binutils' `addr2line -i`."""
    out: Dict[int, List[Tuple[str, str]]] = {}
    for start in range(0, len(addrs), 20000):
        chunk = addrs[start : start + 20000]
        try:
            text = subprocess.run(
                ["addr2line", "-i", "-f", "-C", "-a", "-e", obj, *map(hex, chunk)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            raise SystemExit(f"cgdiff: addr2line could not read {obj}: {e}")
        out.update(parse_addr2line(text.splitlines()))
    return out


def parse_addr2line(lines: Iterable[str]) -> Dict[int, List[Tuple[str, str]]]:
    """`addr2line -i -f -a` output: each address, then (function, file:line) pairs."""
    out: Dict[int, List[Tuple[str, str]]] = {}
    frames: List[Tuple[str, str]] = []
    pending: Optional[str] = None
    for line in lines:
        if line.startswith("0x") and pending is None:
            frames = out.setdefault(int(line, 16), [])
        elif pending is None:
            pending = line
        else:
            # "file:line (discriminator n)" loses its note.
            frames.append((pending, line.split(" (")[0]))
            pending = None
    return out


def short(path: str) -> str:
    """A source path without the toolchain's, the registry's or this directory's prefix."""
    if "/library/" in path:
        return path.split("/library/", 1)[1]
    if "/index.crates.io-" in path:
        return path.split("/index.crates.io-", 1)[1].split("/", 1)[-1]
    here = os.getcwd().rstrip("/") + "/"
    return path[len(here):] if path.startswith(here) else path


def diff(old: Counter, new: Counter, match: str = "") -> List[Tuple[tuple, int, int]]:
    keys = [k for k in set(old) | set(new) if not match or any(match in part for part in k)]
    rows = [(k, old.get(k, 0), new.get(k, 0)) for k in keys]
    rows.sort(key=lambda r: (-(r[2] - r[1]), r[0]))
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--event", default="Ir", help="the event to compare (Ir, D1mr, D1mw, ... as the files name them)")
    ap.add_argument("--lines", action="store_true", help="by function and source line instead of by function")
    ap.add_argument(
        "--own",
        metavar="PREFIX",
        help="by function and the innermost inlined line in a file whose path starts with PREFIX (needs addresses and addr2line)",
    )
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--match", default="", help="only functions or lines whose name contains this text")
    args = ap.parse_args(argv)
    old, new = Profile(args.old, args.event), Profile(args.new, args.event)
    if args.own:
        pick = lambda p: p.by_own(args.own, addr2line)
    elif args.lines:
        pick = lambda p: p.by_line()
    else:
        pick = lambda p: p.by_function()
    rows = diff(pick(old), pick(new), args.match)
    print(f"{args.event}: {old.total:,} in {args.old}, {new.total:,} in {args.new} ({new.total - old.total:+,})")
    print(f"{'difference':>14} {'old':>14} {'new':>14}  where")
    for k, a, b in rows[: args.top]:
        where = "  ".join(reversed(k)) if args.lines or args.own else k[0]
        print(f"{b - a:>+14,} {a:>14,} {b:>14,}  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
