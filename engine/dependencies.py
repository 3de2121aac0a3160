"""Dependencies between monitors: a monitor's alerts wait while one it needs is down.

Alerting follows ``depends_on`` up to the root of a failure, so the graph
must have no cycle: in a cycle every monitor would wait for another and
none would ever alert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


def dependency_cycle(
    monitor_id: str, parents_of: Callable[[str], Iterable[str]]
) -> list[str] | None:
    """A path of dependencies from ``monitor_id`` back to itself, or None.

    Depth-first over ``parents_of``; each monitor is looked at once.
    """
    path: list[str] = [monitor_id]
    seen: set[str] = set()
    stack: list[list[str]] = [list(parents_of(monitor_id))]
    while stack:
        waiting = stack[-1]
        if not waiting:
            stack.pop()
            path.pop()
            continue
        parent = waiting.pop()
        if parent == monitor_id:
            return [*path, parent]
        if parent in seen:
            continue
        seen.add(parent)
        path.append(parent)
        stack.append(list(parents_of(parent)))
    return None
