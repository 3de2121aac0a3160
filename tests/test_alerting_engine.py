"""The alerting engine: incidents, groups, holds, flapping and escalation, in time."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.engine import (
    INCIDENT_OPENED,
    INCIDENT_RESOLVED,
    MAINTENANCE_ENDED,
    MAINTENANCE_STARTED,
    AlertEngine,
    IncidentNotFound,
    Notice,
    Outcome,
)
from alerting.incidents import ACKNOWLEDGED, DEPENDENCY, MAINTENANCE, OPEN, RESOLVED
from alerting.maintenance import maintenance_from_dict
from alerting.rules import policy_from_dict, route_from_dict
from engine.events import StateChange
from engine.result import MonitorState, Reason

UP = MonitorState.UP
DOWN = MonitorState.DOWN
T0 = 1_800_000_000.0


def monitor(monitor_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": monitor_id,
        "name": monitor_id.title(),
        "kind": "http",
        "target": f"http://127.0.0.1/{monitor_id}",
        "tags": [],
        **fields,
    }


def change(monitor_id: str, after: MonitorState, at: float) -> StateChange:
    before = UP if after != UP else DOWN
    reason = Reason.CONNECT if after == DOWN else None
    message = "connection refused" if after == DOWN else ""
    return StateChange(monitor_id, at, before, after, reason, message)


def engine_with(
    *monitors: dict[str, Any], routes: list[dict[str, Any]] | None = None, **kw: Any
) -> AlertEngine:
    engine = AlertEngine(**kw)
    engine.set_monitors(monitors)
    engine.configure(
        routes=[
            route_from_dict(r)
            for r in (routes or [{"id": "all", "channels": ["ops"], "group_wait": 10}])
        ]
    )
    return engine


def run(engine: AlertEngine, until: float, step: float = 1.0) -> list[Notice]:
    """Tick from T0 on to ``until``; every notice made on the way."""
    notices: list[Notice] = []
    at = T0
    while at <= until:
        notices.extend(engine.tick(at).notices)
        at += step
    return notices


def test_a_down_monitor_opens_an_incident_and_recovery_resolves_it() -> None:
    engine = engine_with(monitor("api"))

    opened = engine.observe(change("api", DOWN, T0))
    [incident] = opened.incidents.values()
    status_when_opened = incident.status
    closed = engine.observe(change("api", UP, T0 + 60))

    assert status_when_opened == OPEN
    assert incident.reason == "connect"
    assert [e.type for e in opened.events] == [INCIDENT_OPENED]
    assert closed.incidents[incident.id].status == RESOLVED
    assert closed.incidents[incident.id].resolved_by == "recovery"
    assert [e.type for e in closed.events] == [INCIDENT_RESOLVED]
    assert engine.open_incident_of("api") is None


def test_the_first_notification_waits_for_the_group_and_tells_it_once() -> None:
    engine = engine_with(monitor("api"))
    engine.observe(change("api", DOWN, T0))

    before_wait = run(engine, T0 + 9)
    after_wait = [n for at in range(10, 200) for n in engine.tick(T0 + at).notices]

    assert before_wait == []
    [notice] = after_wait
    assert notice.channels == ("ops",)
    assert notice.event.status == "firing"
    assert notice.event.monitor.id == "api"
    assert notice.event.members == ()


def test_fifty_monitors_failing_together_send_one_notification_listing_them() -> None:
    monitors = [monitor(f"web-{n:02d}", tags=["region:eu"]) for n in range(50)]
    engine = engine_with(
        *monitors,
        routes=[
            {
                "id": "by-region",
                "group_by": ["tag:region"],
                "channels": ["ops"],
                "group_wait": 30,
            }
        ],
    )
    for n, definition in enumerate(monitors):
        engine.observe(change(definition["id"], DOWN, T0 + n * 0.2))

    notices = run(engine, T0 + 120)

    [notice] = notices
    assert len(notice.event.members) == 50
    assert notice.event.monitor.name.startswith("tag:region=eu")
    assert {m.state for m in notice.event.members} == {"down"}


def test_a_group_tells_changes_at_its_interval_and_then_its_resolution() -> None:
    engine = engine_with(
        monitor("a"),
        monitor("b"),
        routes=[
            {
                "id": "one",
                "group_by": [],
                "channels": ["ops"],
                "group_wait": 5,
                "group_interval": 60,
            }
        ],
    )
    engine.observe(change("a", DOWN, T0))
    first = run(engine, T0 + 10)
    engine.observe(change("b", DOWN, T0 + 20))
    engine.observe(change("a", UP, T0 + 30))
    engine.observe(change("b", UP, T0 + 40))
    later = [n for at in range(11, 200) for n in engine.tick(T0 + at).notices]

    assert [n.event.status for n in first] == ["firing"]
    # b fired and recovered between two sends: the next send tells a's end.
    assert [n.event.status for n in later] == ["resolved"]
    assert later[0].event.monitor.id == "a"


def test_a_group_still_firing_is_told_again_at_its_repeat_interval() -> None:
    engine = engine_with(
        monitor("api"),
        routes=[
            {
                "id": "r",
                "channels": ["ops"],
                "group_wait": 0,
                "group_interval": 60,
                "repeat_interval": 600,
            }
        ],
    )
    engine.observe(change("api", DOWN, T0))

    notices = run(engine, T0 + 1250, step=5.0)

    assert len(notices) == 3
    assert len({n.event.key for n in notices}) == 3


def test_the_same_alert_has_the_same_key_however_often_it_is_decided() -> None:
    def first_key() -> str:
        engine = engine_with(monitor("api"))
        engine.observe(change("api", DOWN, T0))
        [notice] = run(engine, T0 + 20)
        return notice.event.key

    assert first_key() == first_key()


def test_a_child_of_a_down_monitor_is_held_and_told_as_caused_by_it() -> None:
    engine = engine_with(
        monitor("router"),
        monitor("db", depends_on=["router"]),
        monitor("api", depends_on=["db"]),
    )
    engine.observe(change("router", DOWN, T0))
    engine.observe(change("db", DOWN, T0 + 1))
    engine.observe(change("api", DOWN, T0 + 2))

    notices = run(engine, T0 + 60)

    assert [n.event.monitor.id for n in notices] == ["router"]
    api = engine.open_incident_of("api")
    assert api is not None
    assert api.held == DEPENDENCY
    assert api.cause == "router"


def test_a_held_child_still_down_after_its_parent_recovers_is_told() -> None:
    engine = engine_with(monitor("router"), monitor("db", depends_on=["router"]))
    engine.observe(change("router", DOWN, T0))
    engine.observe(change("db", DOWN, T0 + 1))
    run(engine, T0 + 30)

    engine.observe(change("router", UP, T0 + 31))
    later = [n for at in range(32, 400) for n in engine.tick(T0 + at).notices]

    # db is told after its own group wait; router's end at its group interval.
    assert [(n.event.monitor.id, n.event.status) for n in later] == [
        ("db", "firing"),
        ("router", "resolved"),
    ]


def maintenance(start: float, end: float, **fields: Any) -> dict[str, Any]:
    return {"id": "upgrade", "monitors": ["db"], "start": start, "end": end, **fields}


def test_maintenance_holds_alerts_and_shows_the_state() -> None:
    engine = engine_with(monitor("db"), monitor("api"))
    window = maintenance_from_dict(maintenance(T0, T0 + 300))
    engine.configure(windows=[window])

    started = engine.tick(T0)
    engine.observe(change("db", DOWN, T0 + 10))
    during = run(engine, T0 + 299)

    assert [e.type for e in started.events] == [MAINTENANCE_STARTED]
    assert engine.state_of("db")[0] == "maintenance"
    assert engine.state_of("api")[0] == "unknown"
    assert during == []
    incident = engine.open_incident_of("db")
    assert incident is not None
    assert incident.held == MAINTENANCE


def test_an_incident_open_when_maintenance_ends_is_told() -> None:
    engine = engine_with(monitor("db"))
    engine.configure(windows=[maintenance_from_dict(maintenance(T0, T0 + 300))])
    engine.tick(T0)
    engine.observe(change("db", DOWN, T0 + 10))

    ended = engine.tick(T0 + 300)
    later = [n for at in range(301, 340) for n in engine.tick(T0 + at).notices]

    assert MAINTENANCE_ENDED in [e.type for e in ended.events]
    assert engine.state_of("db")[0] == "down"
    assert [n.event.monitor.id for n in later] == ["db"]


def test_maintenance_chooses_monitors_by_tag() -> None:
    engine = engine_with(monitor("db", tags=["storage"]), monitor("api"))
    window = {"id": "w", "tags": ["storage"], "start": T0, "end": T0 + 60}
    engine.configure(windows=[maintenance_from_dict(window)])

    engine.tick(T0)

    assert engine.maintained() == {"db": "w"}


def flap(engine: AlertEngine, monitor_id: str, times: int, every: float) -> float:
    at = T0
    for n in range(times):
        engine.observe(change(monitor_id, DOWN if n % 2 == 0 else UP, at))
        at += every
    return at


def test_a_flapping_monitor_is_told_once_not_on_every_change() -> None:
    engine = engine_with(monitor("api"), flap_window=600, flap_changes=6)

    last = flap(engine, "api", times=20, every=15)
    notices = run(engine, last)

    incident = engine.open_incident_of("api")
    assert incident is not None
    assert incident.flapping
    assert len(notices) == 1
    assert "flapping" in notices[0].event.message


def test_a_monitor_that_stops_flapping_up_is_resolved() -> None:
    engine = engine_with(monitor("api"), flap_window=120, flap_changes=6)
    last = flap(engine, "api", times=7, every=5)
    engine.observe(change("api", UP, last))

    settled = engine.tick(last + 121)

    assert engine.open_incident_of("api") is None
    assert INCIDENT_RESOLVED in [e.type for e in settled.events]


ESCALATING_ROUTE = {
    "id": "pager",
    "channels": ["chat"],
    "group_wait": 0,
    "escalation": "oncall",
}


def escalating(**policy: Any) -> AlertEngine:
    engine = engine_with(monitor("api"), routes=[ESCALATING_ROUTE])
    body = {
        "id": "oncall",
        "levels": [
            {"channels": ["primary"], "delay": 0},
            {"channels": ["secondary"], "delay": 300},
        ],
        **policy,
    }
    engine.configure(policies=[policy_from_dict(body)])
    return engine


def escalations(notices: list[Notice]) -> list[tuple[str, ...]]:
    return [n.channels for n in notices if n.channels != ("chat",)]


def test_an_unacknowledged_incident_climbs_its_policy() -> None:
    engine = escalating()
    engine.observe(change("api", DOWN, T0))

    notices = run(engine, T0 + 400)

    assert escalations(notices) == [("primary",), ("secondary",)]


def test_acknowledging_stops_escalation() -> None:
    engine = escalating()
    engine.observe(change("api", DOWN, T0))
    run(engine, T0 + 10)
    incident = engine.open_incident_of("api")
    assert incident is not None

    acknowledged = engine.acknowledge(incident.id, by="ada", at=T0 + 20)
    later = [n for at in range(21, 1000, 5) for n in engine.tick(T0 + at).notices]

    assert acknowledged.incidents[incident.id].status == ACKNOWLEDGED
    assert escalations(later) == []


def test_an_acknowledgement_that_times_out_starts_escalation_again() -> None:
    engine = escalating(ack_timeout=600)
    engine.observe(change("api", DOWN, T0))
    run(engine, T0 + 10)
    incident = engine.open_incident_of("api")
    assert incident is not None
    engine.acknowledge(incident.id, by="ada", at=T0 + 20)

    later = [n for at in range(21, 700, 5) for n in engine.tick(T0 + at).notices]

    assert escalations(later) == [("primary",)]
    assert incident.status == OPEN
    first_key = f"{incident.id}:escalation:0:0:0"
    assert [n.event.key for n in later if n.channels == ("primary",)] != [first_key]


def test_resolving_tells_every_level_that_was_reached() -> None:
    engine = escalating()
    engine.observe(change("api", DOWN, T0))
    run(engine, T0 + 400)

    resolved = engine.observe(change("api", UP, T0 + 401))
    resolved.notices.extend(engine.tick(T0 + 700).notices)

    statuses = {(n.channels, n.event.status) for n in resolved.notices}
    assert (("primary", "secondary"), "resolved") in statuses
    assert (("chat",), "resolved") in statuses


def test_a_policy_repeats_its_levels_as_often_as_it_says() -> None:
    engine = escalating(repeat=1)
    engine.observe(change("api", DOWN, T0))

    notices = run(engine, T0 + 2000, step=5.0)

    assert escalations(notices) == [("primary",), ("secondary",)] * 2


def test_acts_on_an_unknown_incident_are_refused() -> None:
    engine = engine_with(monitor("api"))

    with pytest.raises(IncidentNotFound, match="inc-nothing"):
        engine.acknowledge("inc-nothing", by="ada", at=T0)


def test_a_restart_carries_on_without_telling_again() -> None:
    engine = engine_with(monitor("api"))
    engine.observe(change("api", DOWN, T0))
    stored: dict[str, dict[str, Any]] = {}
    outcome = Outcome()
    for at in range(0, 40):
        outcome = engine.tick(T0 + at)
        stored.update({i.id: i.to_dict() for i in outcome.incidents.values()})
    opened = engine.open_incident_of("api")
    assert opened is not None
    stored[opened.id] = opened.to_dict()

    restarted = engine_with(monitor("api"))
    restarted.restore(stored.values())
    again = [n for at in range(40, 200) for n in restarted.tick(T0 + at).notices]
    closed = restarted.observe(change("api", UP, T0 + 300))
    closed.notices.extend(restarted.tick(T0 + 700).notices)

    assert again == []
    assert [n.event.status for n in closed.notices] == ["resolved"]


def test_pausing_resolves_an_open_incident() -> None:
    engine = engine_with(monitor("api"))
    engine.observe(change("api", DOWN, T0))

    paused = engine.observe(
        StateChange("api", T0 + 5, DOWN, MonitorState.PAUSED, None, "")
    )

    [incident] = paused.incidents.values()
    assert incident.resolved_by == "paused"


def test_degraded_opens_a_warning_that_a_failure_makes_critical() -> None:
    engine = engine_with(monitor("api"))
    engine.observe(StateChange("api", T0, UP, MonitorState.DEGRADED, None, "slow"))
    incident = engine.open_incident_of("api")
    assert incident is not None
    assert incident.severity == "warning"

    engine.observe(change("api", DOWN, T0 + 30))

    assert incident.severity == "critical"
    assert incident.state == "down"


@pytest.mark.parametrize(
    ("route", "field"),
    [
        ({"id": "r", "group_by": ["colour"]}, "group_by[0]"),
        ({"id": "r", "group_wait": "soon"}, "group_wait"),
        ({"id": "r", "repeat_interval": "1s"}, "repeat_interval"),
        ({"id": "r", "channels": ["has space"]}, "channels[0]"),
        ({"id": "r", "escalation": 3}, "escalation"),
        ({"id": "r", "extra": 1}, "extra"),
        ({"id": ""}, "id"),
    ],
)
def test_a_bad_route_names_its_field(route: dict[str, Any], field: str) -> None:
    from engine.errors import ValidationError

    with pytest.raises(ValidationError) as raised:
        route_from_dict(route)

    assert [error.field for error in raised.value.errors] == [field]


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ({"id": "p"}, "levels"),
        ({"id": "p", "levels": [{"channels": []}]}, "levels[0].channels"),
        ({"id": "p", "levels": [{"channels": ["a"], "delay": "x"}]}, "levels[0].delay"),
        ({"id": "p", "levels": [{"channels": ["a"]}], "repeat": -1}, "repeat"),
        ({"id": "p", "levels": [{"channels": ["a"]}], "ack_timeout": 1}, "ack_timeout"),
    ],
)
def test_a_bad_policy_names_its_field(policy: dict[str, Any], field: str) -> None:
    from engine.errors import ValidationError

    with pytest.raises(ValidationError) as raised:
        policy_from_dict(policy)

    assert [error.field for error in raised.value.errors] == [field]


def test_a_change_delivered_again_after_a_retry_changes_nothing() -> None:
    engine = engine_with(monitor("api"))
    down = change("api", DOWN, T0)
    engine.observe(down)

    again = engine.observe(down)

    assert not again


def test_a_recovery_arriving_after_a_restart_resolves_the_restored_incident() -> None:
    engine = engine_with(monitor("api"))
    engine.observe(change("api", DOWN, T0))
    stored = [incident.to_dict() for incident in engine.incidents.values()]

    restarted = engine_with(monitor("api"))
    restarted.set_states({"api": ("up", "", "")})
    restarted.restore(stored)
    recovered = restarted.observe(change("api", UP, T0 + 30))

    [incident] = recovered.incidents.values()
    assert incident.status == RESOLVED


def test_the_status_alerting_adds_names_the_window_incident_and_cause() -> None:
    engine = engine_with(
        monitor("router"), monitor("db", depends_on=["router"]), monitor("cache")
    )
    window = {"id": "w", "monitors": ["cache"], "start": T0, "end": T0 + 60}
    engine.configure(windows=[maintenance_from_dict(window)])
    engine.tick(T0)
    engine.observe(change("router", DOWN, T0 + 1))
    engine.observe(change("db", DOWN, T0 + 2))

    shown = engine.alerting_status()

    router = engine.open_incident_of("router")
    db = engine.open_incident_of("db")
    assert router is not None
    assert db is not None
    assert shown == {
        "cache": {"maintenance": "w"},
        "router": {"incident": router.id},
        "db": {"incident": db.id, "caused_by": "router"},
    }


def test_pausing_a_flapping_monitor_resolves_its_incident() -> None:
    engine = engine_with(monitor("api"), flap_window=600, flap_changes=6)
    last = flap(engine, "api", times=8, every=10)

    paused = engine.observe(StateChange("api", last, UP, MonitorState.PAUSED))

    [incident] = paused.incidents.values()
    assert incident.resolved_by == "paused"
    assert engine.open_incident_of("api") is None


def test_a_monitor_added_during_a_window_is_covered_without_a_second_start() -> None:
    engine = engine_with(monitor("db", tags=["storage"]))
    window = {"id": "w", "tags": ["storage"], "start": T0, "end": T0 + 60}
    engine.configure(windows=[maintenance_from_dict(window)])
    started = engine.tick(T0)

    engine.set_monitors([monitor("replica", tags=["storage"])])
    later = engine.tick(T0 + 1)

    assert [e.type for e in started.events] == [MAINTENANCE_STARTED]
    assert later.events == []
    assert engine.maintained() == {"db": "w", "replica": "w"}


def test_a_child_is_held_while_the_parent_between_it_and_the_root_retries() -> None:
    engine = engine_with(
        monitor("router"),
        monitor("db", depends_on=["router"]),
        monitor("api", depends_on=["db"]),
    )
    engine.observe(change("router", DOWN, T0))
    engine.observe(StateChange("db", T0 + 1, UP, MonitorState.PENDING, None, ""))

    engine.observe(change("api", DOWN, T0 + 2))

    api = engine.open_incident_of("api")
    assert api is not None
    assert api.held == DEPENDENCY
    assert api.cause == "router"


def test_an_untold_child_is_held_when_its_parent_goes_down_after_it() -> None:
    engine = engine_with(monitor("router"), monitor("db", depends_on=["router"]))
    engine.observe(change("db", DOWN, T0))

    engine.observe(change("router", DOWN, T0 + 1))
    notices = run(engine, T0 + 60)

    db = engine.open_incident_of("db")
    assert db is not None
    assert db.held == DEPENDENCY
    assert [n.event.monitor.id for n in notices] == ["router"]


def test_a_group_notification_names_the_monitor_that_failed_first() -> None:
    engine = engine_with(
        monitor("db"),
        monitor("api"),
        monitor("web"),
        routes=[{"id": "all", "group_by": [], "channels": ["ops"], "group_wait": 30}],
    )
    engine.observe(change("db", DOWN, T0))
    engine.observe(change("api", DOWN, T0 + 40))
    engine.observe(change("web", DOWN, T0 + 42))

    [notice] = run(engine, T0 + 60)

    assert notice.event.message.startswith("Likely root: db failed 40 s before")
