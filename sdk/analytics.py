"""The analytics calls of both clients: analyses, baselines, failures, SLOs.

``AsyncAnalytics`` and ``Analytics`` add them to ``AsyncClient`` and
``Client``, built once as ``Call`` values, as the alerting calls are.
"""

from __future__ import annotations

from typing import Any

from sdk.calls import API, AsyncSender, Call, Sender, api_path


def analysis_call(monitor_id: str, results: int, threshold_ms: float | None) -> Call:
    params: dict[str, str | int | float] = {"results": results}
    if threshold_ms is not None:
        params["threshold_ms"] = threshold_ms
    return Call("GET", f"{_monitor(monitor_id)}/analysis", params=params)


def baselines_call(monitor_id: str) -> Call:
    return Call("GET", f"{_monitor(monitor_id)}/baselines")


def failing_together_call(
    since: float | None, until: float | None, bucket: str | None
) -> Call:
    params: dict[str, str | int | float] = {}
    for name, value in (("since", since), ("until", until), ("bucket", bucket)):
        if value is not None:
            params[name] = value
    return Call("GET", f"{API}/analytics/failing-together", params=params)


def slo_status_call(slo_id: str) -> Call:
    return Call("GET", api_path("slos", slo_id, "status"))


def _monitor(monitor_id: str) -> str:
    return api_path("monitors", monitor_id)


class AsyncAnalytics(AsyncSender):
    """Analyses of monitors, their baselines, failures together and SLOs."""

    async def analysis(
        self, monitor_id: str, *, results: int = 2000, threshold_ms: float | None = None
    ) -> dict[str, Any]:
        """Anomaly scores of the latest results, percentiles, trend, certificate."""
        found: dict[str, Any] = await self._send(
            analysis_call(monitor_id, results, threshold_ms)
        )
        return found

    async def baselines(self, monitor_id: str) -> dict[str, Any]:
        """Rolling figures and the 168 hour-of-week baselines of a monitor."""
        found: dict[str, Any] = await self._send(baselines_call(monitor_id))
        return found

    async def failing_together(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        bucket: str | None = None,
    ) -> list[dict[str, Any]]:
        """Groups of monitors that failed together, each with its likely root."""
        found = await self._send(failing_together_call(since, until, bucket))
        groups: list[dict[str, Any]] = found["groups"]
        return groups

    async def slo_status(self, slo_id: str) -> dict[str, Any]:
        """An SLO's error budget, forecast and the burn alerts firing now."""
        found: dict[str, Any] = await self._send(slo_status_call(slo_id))
        return found


class Analytics(Sender):
    """The same calls as ``AsyncAnalytics``, for the blocking ``Client``."""

    def analysis(
        self, monitor_id: str, *, results: int = 2000, threshold_ms: float | None = None
    ) -> dict[str, Any]:
        found: dict[str, Any] = self._send(
            analysis_call(monitor_id, results, threshold_ms)
        )
        return found

    def baselines(self, monitor_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._send(baselines_call(monitor_id))
        return found

    def failing_together(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        bucket: str | None = None,
    ) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = self._send(
            failing_together_call(since, until, bucket)
        )["groups"]
        return groups

    def slo_status(self, slo_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._send(slo_status_call(slo_id))
        return found
