"""CPU time and memory of process trees and of named servers, read from /proc.

The platform runs as many processes (the command, Ray's services, one per
actor), so its cost is the sum over the tree under the process we started.
A database server is not ours to start, so its processes are found by name.
"""

from __future__ import annotations

import os
from pathlib import Path

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The direct children of ``pid``; empty when it has ended."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for thread in threads:
        try:
            text = Path(f"/proc/{pid}/task/{thread}/children").read_text("ascii")
        except OSError:
            continue
        found.extend(int(child) for child in text.split())
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and every process descended from it."""
    found = [pid]
    index = 0
    while index < len(found):
        found.extend(children(found[index]))
        index += 1
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system seconds of one live process; 0 when it has ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return 0.0
    # Fields after the command name, which is in parentheses and may hold spaces.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident memory of one live process; 0 when it has ended."""
    try:
        statm = Path(f"/proc/{pid}/statm").read_text(encoding="ascii")
    except OSError:
        return 0
    return int(statm.split()[1]) * _PAGE_SIZE


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by the live processes of ``pid``'s tree."""
    return sum(cpu_seconds(member) for member in tree(pid))


def name(pid: int) -> str:
    """What a process calls itself: Ray's workers title themselves ``ray::Actor``."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    first = words[0].decode(errors="replace").split()
    if not first:
        return "?"
    if first[0].startswith("ray::"):
        # A busy actor's worker titles itself with the method it runs.
        return first[0].split(".", 1)[0]
    program = Path(first[0]).name
    if program.startswith("python") and len(words) > 2 and words[1] == b"-m":
        return f"python -m {words[2].decode(errors='replace')}"
    return program


CpuReading = dict[int, tuple[str, float]]
"""CPU seconds so far of each process of a tree, with its name, by pid."""


def tree_cpu(pid: int) -> CpuReading:
    """CPU seconds so far of every live process of ``pid``'s tree."""
    return {member: (name(member), cpu_seconds(member)) for member in tree(pid)}


def named_cpu(prefixes: tuple[str, ...]) -> CpuReading:
    """CPU seconds so far of every live process whose name starts with a prefix.

    The name is the kernel's (``/proc/<pid>/comm``), which a server keeps
    when it retitles its processes: PostgreSQL's backends are all
    ``postgres``, MariaDB's one process is ``mariadbd``.
    """
    found: CpuReading = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            command = Path(f"/proc/{entry}/comm").read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if command.startswith(prefixes):
            found[int(entry)] = (command, cpu_seconds(int(entry)))
    return found


def cpu_by_pid_between(before: CpuReading, after: CpuReading) -> dict[int, float]:
    """CPU seconds each process used between two readings, by pid.

    One that started in between counts from its start; one that ended is
    missing from ``after`` and its time is lost, so a measurement should
    keep the processes it relies on alive throughout.
    """
    used: dict[int, float] = {}
    for member, (_, seconds) in after.items():
        earlier = before.get(member)
        used[member] = seconds - earlier[1] if earlier is not None else seconds
    return used


def cpu_between(before: CpuReading, after: CpuReading) -> dict[str, float]:
    """CPU seconds each process name used between two readings of a tree.

    Processes are matched by pid, so names that change (Ray's workers
    retitle themselves) do not mix up the sums.
    """
    totals: dict[str, float] = {}
    for member, used in cpu_by_pid_between(before, after).items():
        label = after[member][0]
        totals[label] = totals.get(label, 0.0) + used
    return totals


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid``'s tree, counting pages shared between them twice."""
    return sum(rss_bytes(member) for member in tree(pid))


def pss_bytes(pid: int) -> int:
    """Proportional set size of one live process: its private pages plus its
    share of the pages it shares; 0 when it has ended or cannot be read."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="ascii")
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def tree_pss_by_name(pid: int) -> dict[str, int]:
    """Proportional set size of ``pid``'s tree, summed by process name.

    Unlike the resident size, the sum over processes counts a shared page
    once, which matters for Ray's workers that share their libraries.
    """
    totals: dict[str, int] = {}
    for member in tree(pid):
        key = name(member)
        totals[key] = totals.get(key, 0) + pss_bytes(member)
    return totals
