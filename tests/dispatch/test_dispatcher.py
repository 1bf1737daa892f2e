"""The dispatcher on a small real road graph: ranking, rules, lifecycle, escalation, surge."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import networkx as nx
import numpy as np
import pytest

from dispatch_engine.dispatch.model import (
    AssignmentStatus,
    EscalationKind,
    EventType,
    IncidentRequest,
    IncidentStatus,
)
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.dispatch.rank import FleetLocator, rank
from dispatch_engine.dispatch.service import Dispatcher
from dispatch_engine.errors import ConflictError, OutsideServiceAreaError
from dispatch_engine.fleet.model import SHANGHAI_TZ, VehicleKind, VehicleStatus
from dispatch_engine.geo.zones import ZoneClassifier
from dispatch_engine.network.compile import compile_graph
from dispatch_engine.network.engine import EstimateEngine, RoadEngine
from dispatch_engine.network.router import Router
from dispatch_engine.store.memory import MemoryDispatchStore
from tests.fleet.factories import DAY_SHIFT, make_fleet, make_vehicle

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=SHANGHAI_TZ)


@pytest.fixture(scope="module")
def router(grid_graph) -> Router:
    road = RoadEngine(compile_graph(grid_graph), snap_max_m=2000.0, offroad_speed_kph=15.0)
    return Router(road, EstimateEngine(detour_factor=1.35, speed_kph=65.0))


@pytest.fixture(scope="module")
def classifier(settings) -> ZoneClassifier:
    return ZoneClassifier.from_settings(settings)


def node_at(graph, node):
    return graph.nodes[node]["y"], graph.nodes[node]["x"]


def make_dispatcher(router, classifier, *vehicles, now=NOON):
    clock = ManualClock(now)
    store = MemoryDispatchStore(make_fleet(*vehicles))
    return Dispatcher(store=store, router=router, classifier=classifier, clock=clock), clock


def vehicles_at_nodes(graph, nodes, **overrides):
    out = []
    for i, node in enumerate(nodes):
        lat, lon = node_at(graph, node)
        out.append(make_vehicle(id=f"V{i:02d}", lat=lat, lon=lon, **overrides))
    return out


def request(graph, node, **overrides):
    lat, lon = node_at(graph, node)
    fields = dict(id="I1", lat=lat, lon=lon, reported_at=NOON)
    return IncidentRequest(**(fields | overrides))


def test_ranking_equals_brute_force_over_networkx(grid_graph, router):
    """Candidates come in the order of networkx road times from each vehicle to the incident."""
    rng = np.random.default_rng(11)
    nodes = list(grid_graph.nodes)
    picked = [nodes[i] for i in rng.choice(len(nodes), 12, replace=False)]
    vehicles = vehicles_at_nodes(grid_graph, picked[:11])
    target = picked[11]
    located = FleetLocator(router).locate(vehicles)
    ranked = rank(router, located, vehicles, *node_at(grid_graph, target))
    to_target = nx.single_source_dijkstra_path_length(
        grid_graph.reverse(), target, weight="travel_time"
    )
    expected = sorted(vehicles, key=lambda v: (to_target[picked[int(v.id[1:])]], v.id))
    assert [c.vehicle.id for c in ranked] == [v.id for v in expected]
    for c in ranked:
        assert c.eta_s == pytest.approx(to_target[picked[int(c.vehicle.id[1:])]], abs=0.01)
        assert not c.estimate


def test_dispatch_sends_the_nearest_and_sets_deadlines(grid_graph, router, classifier):
    """A Shaoguan incident gets the nearest car, 5-min call and 15-min arrival deadlines."""
    nodes = list(grid_graph.nodes)
    vehicles = vehicles_at_nodes(grid_graph, [nodes[0], nodes[63], nodes[27]])
    dispatcher, _ = make_dispatcher(router, classifier, *vehicles)
    incident = dispatcher.dispatch(request(grid_graph, nodes[28]))
    assert incident.zone.zone == "shaoguan"
    assert incident.call_due_at == NOON + timedelta(minutes=5)
    assert incident.arrival_due_at == NOON + timedelta(minutes=15)
    (assignment,) = incident.assignments
    assert assignment.vehicle_id == "V02"
    assert assignment.meets_guarantee and not assignment.estimate
    assert assignment.distance_m > 0
    assert dispatcher.store.fleet().vehicle("V02").status == VehicleStatus.EN_ROUTE
    assert incident.status == IncidentStatus.ASSIGNED


def test_skills_shift_and_status_are_respected(grid_graph, router, classifier):
    """The nearest car is skipped when it lacks a skill, is off shift or busy."""
    nodes = list(grid_graph.nodes)
    lat, lon = node_at(grid_graph, nodes[28])
    far_lat, far_lon = node_at(grid_graph, nodes[0])
    vehicles = [
        make_vehicle(id="NOSKILL", lat=lat, lon=lon),
        make_vehicle(
            id="OFFSHIFT", lat=lat, lon=lon, skills=frozenset({"injury_case"}), shifts=(DAY_SHIFT,)
        ),
        make_vehicle(
            id="BUSY",
            lat=lat,
            lon=lon,
            skills=frozenset({"injury_case"}),
            status=VehicleStatus.ON_SCENE,
        ),
        make_vehicle(id="FAR", lat=far_lat, lon=far_lon, skills=frozenset({"injury_case"})),
    ]
    night = NOON.replace(hour=23)
    dispatcher, _ = make_dispatcher(router, classifier, *vehicles, now=night)
    incident = dispatcher.dispatch(
        request(
            grid_graph,
            nodes[28],
            reported_at=night,
            injured=True,
            skills=frozenset({"injury_case"}),
        )
    )
    assert [a.vehicle_id for a in incident.assignments] == ["FAR"]


def test_multi_vehicle_incident_gets_one_per_kind(grid_graph, router, classifier):
    """An incident needing survey + flatbed gets the best of each kind."""
    nodes = list(grid_graph.nodes)
    survey = vehicles_at_nodes(grid_graph, [nodes[5], nodes[40]])
    tows = [
        dataclasses.replace(v, id=f"T{v.id}", kind=VehicleKind.TOW_FLATBED)
        for v in vehicles_at_nodes(grid_graph, [nodes[30], nodes[60]])
    ]
    dispatcher, _ = make_dispatcher(router, classifier, *survey, *tows)
    incident = dispatcher.dispatch(
        request(grid_graph, nodes[31], needs=(VehicleKind.SURVEY, VehicleKind.TOW_FLATBED))
    )
    kinds = {a.kind: a.vehicle_id for a in incident.assignments}
    assert set(kinds) == {VehicleKind.SURVEY, VehicleKind.TOW_FLATBED}
    assert kinds[VehicleKind.TOW_FLATBED] == "TV00"


def test_no_candidate_is_a_typed_outcome(grid_graph, router, classifier):
    """Nothing available: the incident stays open with a no_vehicle escalation, no exception."""
    nodes = list(grid_graph.nodes)
    dispatcher, _ = make_dispatcher(router, classifier, *vehicles_at_nodes(grid_graph, [nodes[0]]))
    incident = dispatcher.dispatch(request(grid_graph, nodes[5], needs=(VehicleKind.TOW_CRANE,)))
    assert incident.status == IncidentStatus.OPEN
    assert incident.missing_kinds() == (VehicleKind.TOW_CRANE,)
    assert [e.kind for e in incident.escalations] == [EscalationKind.NO_VEHICLE]


def test_decline_reassigns_to_the_ab_partner_first(grid_graph, router, classifier):
    """A declined job goes to the declining car's A/B partner even when another car is nearer."""
    nodes = list(grid_graph.nodes)
    near, nearer, partner = vehicles_at_nodes(grid_graph, [nodes[28], nodes[29], nodes[0]])
    near = dataclasses.replace(near, partner_id=partner.id)
    partner = dataclasses.replace(partner, partner_id=near.id)
    dispatcher, _ = make_dispatcher(router, classifier, near, nearer, partner)
    incident = dispatcher.dispatch(request(grid_graph, nodes[28]))
    assert incident.active()[0].vehicle_id == near.id
    incident = dispatcher.record("I1", EventType.DECLINED, vehicle_id=near.id)
    assert [a.vehicle_id for a in incident.active()] == [partner.id]
    assert incident.assignments[0].status == AssignmentStatus.DECLINED
    # the partner no-shows: the nearest remaining car takes it
    incident = dispatcher.record("I1", EventType.NO_SHOW, vehicle_id=partner.id)
    assert [a.vehicle_id for a in incident.active()] == [nearer.id]
    assert dispatcher.store.fleet().vehicle(partner.id).status == VehicleStatus.OFF_DUTY


def test_lifecycle_to_done_and_illegal_moves(grid_graph, router, classifier):
    """called -> arrived -> done closes the incident; repeating or skipping steps is a conflict."""
    nodes = list(grid_graph.nodes)
    dispatcher, clock = make_dispatcher(
        router, classifier, *vehicles_at_nodes(grid_graph, [nodes[0]])
    )
    dispatcher.dispatch(request(grid_graph, nodes[9]))
    with pytest.raises(ConflictError, match="cannot go from 'assigned' to 'done'"):
        dispatcher.record("I1", EventType.DONE, vehicle_id="V00")
    clock.set(NOON + timedelta(minutes=2))
    incident = dispatcher.record("I1", EventType.CALLED)
    assert incident.called_at == NOON + timedelta(minutes=2)
    with pytest.raises(ConflictError):
        dispatcher.record("I1", EventType.CALLED)
    incident = dispatcher.record("I1", EventType.ARRIVED, vehicle_id="V00")
    assert incident.status == IncidentStatus.ON_SCENE
    incident = dispatcher.record("I1", EventType.DONE, vehicle_id="V00")
    assert incident.status == IncidentStatus.DONE
    assert dispatcher.store.fleet().vehicle("V00").status == VehicleStatus.RETURNING
    with pytest.raises(ConflictError, match="already done"):
        dispatcher.record("I1", EventType.ARRIVED, vehicle_id="V00")
    assert [e.type for e in dispatcher.store.events("I1")] == [
        EventType.CALLED,
        EventType.ARRIVED,
        EventType.DONE,
    ]


def test_escalations_follow_the_clock(grid_graph, router, classifier):
    """Call overdue after 5 min without a call, arrival overdue after 15 min, each raised once."""
    nodes = list(grid_graph.nodes)
    dispatcher, clock = make_dispatcher(
        router, classifier, *vehicles_at_nodes(grid_graph, [nodes[0]])
    )
    dispatcher.dispatch(request(grid_graph, nodes[9]))
    clock.set(NOON + timedelta(minutes=5))
    assert dispatcher.check_escalations() == []
    clock.set(NOON + timedelta(minutes=5, seconds=1))
    assert [e.kind for e in dispatcher.check_escalations()] == [EscalationKind.CALL_OVERDUE]
    assert dispatcher.check_escalations() == []
    clock.set(NOON + timedelta(minutes=15, seconds=1))
    assert [e.kind for e in dispatcher.check_escalations()] == [EscalationKind.ARRIVAL_OVERDUE]


def test_late_eta_escalates_at_assignment(grid_graph, router, classifier):
    """A car that cannot make the deadline is still sent, flagged, and escalated."""
    nodes = list(grid_graph.nodes)
    dispatcher, _ = make_dispatcher(router, classifier, *vehicles_at_nodes(grid_graph, [nodes[0]]))
    late_report = NOON - timedelta(minutes=14, seconds=50)
    incident = dispatcher.dispatch(request(grid_graph, nodes[63], reported_at=late_report))
    assert not incident.assignments[0].meets_guarantee
    assert [e.kind for e in incident.escalations] == [EscalationKind.ARRIVAL_AT_RISK]


def test_outside_shaoguan_is_served_by_the_nearest_branch_with_an_estimate(
    grid_graph, router, classifier
):
    """A Guangzhou incident goes to the Guangzhou branch, its ETA flagged as an estimate."""
    branch = make_vehicle(
        id="PB-GZ", lat=23.13, lon=113.26, branch="广州市", position_is_estimate=True
    )
    other = make_vehicle(
        id="PB-CS", lat=28.23, lon=112.94, branch="长沙市", position_is_estimate=True
    )
    local = vehicles_at_nodes(grid_graph, [list(grid_graph.nodes)[0]])
    dispatcher, _ = make_dispatcher(router, classifier, branch, other, *local)
    incident = dispatcher.dispatch(
        IncidentRequest(id="GZ", lat=23.15, lon=113.30, reported_at=NOON)
    )
    assert incident.zone.zone == "guangdong"
    assert incident.arrival_due_at == NOON + timedelta(minutes=30)
    (assignment,) = incident.assignments
    assert assignment.vehicle_id == "PB-GZ" and assignment.estimate


def test_outside_service_area_is_rejected(router, classifier):
    """Hong Kong is outside the service area: a clear error, nothing stored."""
    dispatcher, _ = make_dispatcher(router, classifier, make_vehicle())
    with pytest.raises(OutsideServiceAreaError):
        dispatcher.dispatch(IncidentRequest(id="HK", lat=22.30, lon=114.17, reported_at=NOON))
    assert dispatcher.store.incidents() == []


def test_surge_never_double_books_and_meets_at_least_greedy(grid_graph, router, classifier):
    """A joint surge assignment uses each vehicle once and meets as many guarantees as greedy."""
    rng = np.random.default_rng(3)
    nodes = list(grid_graph.nodes)
    vehicles = vehicles_at_nodes(
        grid_graph, [nodes[i] for i in rng.choice(len(nodes), 6, replace=False)]
    )
    dispatcher, clock = make_dispatcher(router, classifier, *vehicles)
    for k, i in enumerate(rng.choice(len(nodes), 9, replace=False)):
        lat, lon = node_at(grid_graph, nodes[i])
        dispatcher.store.save_incident(
            dispatcher.open_incident(
                IncidentRequest(
                    id=f"S{k}",
                    lat=lat,
                    lon=lon,
                    reported_at=NOON - timedelta(minutes=int(rng.integers(0, 14))),
                    injured=bool(k % 3 == 0),
                )
            )
        )
    report = dispatcher.surge()
    assigned = [a.vehicle_id for i in dispatcher.store.incidents() for a in i.assignments]
    assert len(assigned) == len(set(assigned)) == 6
    assert report.assigned == 6 and report.incidents == 9
    assert report.met >= report.greedy_met
    assert report.met_injury >= report.greedy_met_injury


def test_tow_goes_free_to_the_nearest_designated_shop_by_road(grid_graph, router, classifier):
    """A Guangdong tow goes free to the nearest shop by road; an owner's choice is not free."""
    from dispatch_engine.dispatch.rescue import RepairShop

    nodes = list(grid_graph.nodes)
    shop_nodes = [nodes[0], nodes[36], nodes[63]]
    shops = tuple(
        RepairShop(f"RS{i}", f"shop {i}", "浈江区", *node_at(grid_graph, n))
        for i, n in enumerate(shop_nodes)
    )
    tow = dataclasses.replace(
        vehicles_at_nodes(grid_graph, [nodes[1]])[0], kind=VehicleKind.TOW_FLATBED
    )
    dispatcher, _ = make_dispatcher(router, classifier, tow)
    dispatcher.repair_shops = shops
    incident = dispatcher.dispatch(request(grid_graph, nodes[20], needs=(VehicleKind.TOW_FLATBED,)))
    times = nx.single_source_dijkstra_path_length(grid_graph, nodes[20], weight="travel_time")
    best = min(range(3), key=lambda i: times[shop_nodes[i]])
    assert incident.tow is not None and incident.tow.free
    assert incident.tow.destination == f"shop {best}"
    assert incident.tow.seconds == pytest.approx(times[shop_nodes[best]], abs=0.01)
    owner = dispatcher.open_incident(
        request(
            grid_graph,
            nodes[20],
            id="I2",
            needs=(VehicleKind.TOW_FLATBED,),
            tow_destination=("my garage", *node_at(grid_graph, nodes[7])),
        )
    )
    assert owner.tow is not None and not owner.tow.free and owner.tow.destination == "my garage"


def test_national_incident_has_the_60_minute_guarantee(grid_graph, router, classifier):
    """A Changsha incident: zone national, 60-min arrival deadline, the Changsha branch serves."""
    branch = make_vehicle(
        id="PB-CS", lat=28.23, lon=112.94, branch="长沙市", position_is_estimate=True
    )
    gz = make_vehicle(id="PB-GZ", lat=23.13, lon=113.26, branch="广州市", position_is_estimate=True)
    dispatcher, _ = make_dispatcher(router, classifier, branch, gz)
    incident = dispatcher.dispatch(
        IncidentRequest(id="CS", lat=28.20, lon=112.97, reported_at=NOON)
    )
    assert (incident.zone.zone, incident.zone.province) == ("national", "湖南省")
    assert incident.call_due_at == NOON + timedelta(minutes=5)
    assert incident.arrival_due_at == NOON + timedelta(minutes=60)
    (assignment,) = incident.assignments
    assert assignment.vehicle_id == "PB-CS" and assignment.estimate and assignment.meets_guarantee


def test_an_injured_incident_still_gets_a_tow_truck(grid_graph, router, classifier):
    """Skills are asked only of the kinds that carry them: the injury skill binds the surveyor."""
    nodes = list(grid_graph.nodes)
    surveyor, plain = vehicles_at_nodes(grid_graph, [nodes[5], nodes[6]])
    surveyor = dataclasses.replace(surveyor, skills=frozenset({"injury_case"}))
    tow = dataclasses.replace(
        vehicles_at_nodes(grid_graph, [nodes[40]])[0], id="TOW", kind=VehicleKind.TOW_FLATBED
    )
    dispatcher, _ = make_dispatcher(router, classifier, surveyor, plain, tow)
    incident = dispatcher.dispatch(
        request(
            grid_graph,
            nodes[7],
            injured=True,
            skills=frozenset({"injury_case"}),
            needs=(VehicleKind.SURVEY, VehicleKind.TOW_FLATBED),
        )
    )
    assert {a.kind: a.vehicle_id for a in incident.active()} == {
        VehicleKind.SURVEY: surveyor.id,
        VehicleKind.TOW_FLATBED: "TOW",
    }


def test_dispatch_uses_the_speed_profile_of_the_report_hour(grid_graph, classifier):
    """At a rush hour that halves every speed, the same car's ETA doubles (off-road legs aside)."""
    from dispatch_engine.network.profiles import SpeedProfile

    rush = np.ones(168)
    rush[8] = 0.5  # Monday 08:00-09:00, Asia/Shanghai
    classes = {"primary", "residential", "unclassified"}
    profile = SpeedProfile("rush", SHANGHAI_TZ, {c: rush for c in classes})
    road = RoadEngine(
        compile_graph(grid_graph), snap_max_m=2000.0, offroad_speed_kph=15.0, profile=profile
    )
    router = Router(road, EstimateEngine(detour_factor=1.35, speed_kph=65.0))
    nodes = list(grid_graph.nodes)
    etas = {}
    for hour in (3, 8):
        at = NOON.replace(hour=hour)
        dispatcher, _ = make_dispatcher(
            router, classifier, *vehicles_at_nodes(grid_graph, [nodes[0]]), now=at
        )
        incident = dispatcher.dispatch(request(grid_graph, nodes[63], reported_at=at))
        etas[hour] = incident.assignments[0].eta_s
    assert etas[8] == pytest.approx(2 * etas[3], rel=1e-6)
