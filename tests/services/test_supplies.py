"""Rescue depots' supplies: thresholds, alerts on crossing, sender, scheduled checks, the file."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
import yaml

from dispatch_engine.claims.notices import LoggingSender
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.errors import ExternalServiceError, InvalidInputError, NotFoundError
from dispatch_engine.fleet.model import SHANGHAI_TZ
from dispatch_engine.services.supplies import (
    Category,
    CheckKind,
    Depot,
    MemorySupplyStore,
    MovementKind,
    NoticeAlertSender,
    PersonInCharge,
    StockLevel,
    StockLine,
    SupplyAlert,
    SupplyDesk,
    SupplyItem,
    checks_due,
    load_supplies,
    overdue_checks,
    stock_level,
    supplies_path,
)
from dispatch_engine.settings import load_settings

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI_TZ)
ITEMS = {
    "first_aid_kit": SupplyItem("first_aid_kit", "急救箱", Category.FIRST_AID),
    "flashlight": SupplyItem("flashlight", "强光手电", Category.LIGHTING),
}


class RecordingSender:
    """Keeps what it is asked to send (the real protocol, in memory)."""

    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[SupplyAlert] = []
        self.fail = fail

    def send(self, alert: SupplyAlert) -> None:
        if self.fail:
            raise ExternalServiceError("SMS gateway down")
        self.sent.append(alert)


def make_depot(**overrides) -> Depot:
    fields = {
        "base_id": "ZJ1",
        "name": "浈江城区基地",
        "person": PersonInCharge("陈志强", "+8613800000001"),
        "lines": (StockLine("first_aid_kit", 10, 10), StockLine("flashlight", 6, 6)),
        "performance_checked_at": NOW - timedelta(days=10),
        "expiry_checked_at": NOW - timedelta(days=10),
    }
    return Depot(**(fields | overrides))


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture()
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture()
def store() -> MemorySupplyStore:
    return MemorySupplyStore([make_depot()])


@pytest.fixture()
def desk(store, clock, sender) -> SupplyDesk:
    return SupplyDesk(store, items=ITEMS, clock=clock, sender=sender)


@pytest.mark.parametrize(
    ("quantity", "standard", "level"),
    [
        (5, 10, StockLevel.OK),  # exactly 50 %: not below
        (49, 100, StockLevel.REORDER),
        (3, 10, StockLevel.REORDER),  # exactly 30 %: not below
        (29, 100, StockLevel.URGENT),
        (0, 1, StockLevel.URGENT),
        (1, 2, StockLevel.OK),
        (2, 3, StockLevel.OK),
        (1, 3, StockLevel.REORDER),  # 33.3 %
    ],
)
def test_levels_are_strictly_below_the_thresholds(quantity, standard, level):
    """Below means strictly below: exactly 50 % is ok and exactly 30 % a reorder."""
    assert stock_level(quantity, standard) is level


def test_alerts_fire_when_a_line_crosses_into_a_worse_level(desk, sender):
    """10 → 5 (50 %) no alert; → 4 reorder; → 3 (30 %) nothing new; → 2 urgent, sent to the
    person in charge; a restock above 50 % re-arms the reorder alert."""
    assert desk.issue("ZJ1", "first_aid_kit", 5) is None
    reorder = desk.issue("ZJ1", "first_aid_kit", 1)
    assert reorder is not None and reorder.level is StockLevel.REORDER and not reorder.delivered
    assert desk.issue("ZJ1", "first_aid_kit", 1) is None
    urgent = desk.issue("ZJ1", "first_aid_kit", 1)
    assert urgent is not None and (urgent.level, urgent.quantity, urgent.delivered) == (
        StockLevel.URGENT,
        2,
        True,
    )
    assert [(a.item_id, a.level, a.quantity) for a in sender.sent] == [
        ("first_aid_kit", StockLevel.URGENT, 2)
    ]
    assert urgent.person.phone == "+8613800000001"
    assert "急救箱库存2" in urgent.message and "30%" in urgent.message
    assert desk.restock("ZJ1", "first_aid_kit", 8).quantity == 10
    assert desk.issue("ZJ1", "first_aid_kit", 6).level is StockLevel.REORDER


def test_one_big_issue_raises_one_urgent_alert(desk, sender):
    """Falling from ok straight below 30 % is one urgent alert."""
    alert = desk.issue("ZJ1", "flashlight", 5)
    assert alert.level is StockLevel.URGENT and len(sender.sent) == 1


def test_movements_are_recorded(desk, store, clock):
    """Issues and restocks are kept with their time and sign."""
    desk.issue("ZJ1", "flashlight", 2)
    clock.set(NOW + timedelta(hours=3))
    desk.restock("ZJ1", "flashlight", 4)
    moves = [(m.kind, m.change, m.at) for m in store.movements()]
    assert moves == [
        (MovementKind.ISSUE, -2, NOW),
        (MovementKind.RESTOCK, 4, NOW + timedelta(hours=3)),
    ]


def test_bad_movements_name_the_field(desk):
    """Issuing more than in stock, a non-positive count, an unknown depot or item are refused."""
    with pytest.raises(InvalidInputError) as more:
        desk.issue("ZJ1", "flashlight", 7)
    assert more.value.field == "quantity"
    with pytest.raises(InvalidInputError):
        desk.restock("ZJ1", "flashlight", 0)
    with pytest.raises(NotFoundError) as depot:
        desk.issue("XX", "flashlight", 1)
    assert depot.value.field == "base_id"
    with pytest.raises(NotFoundError) as item:
        desk.issue("ZJ1", "rope", 1)
    assert item.value.field == "item_id"


def test_an_undelivered_urgent_alert_is_recorded_and_the_error_raised(clock):
    """When the SMS cannot be sent the issue and the undelivered alert stay recorded."""
    store = MemorySupplyStore([make_depot()])
    desk = SupplyDesk(store, items=ITEMS, clock=clock, sender=RecordingSender(fail=True))
    with pytest.raises(ExternalServiceError):
        desk.issue("ZJ1", "flashlight", 5)
    assert desk.depot("ZJ1").line("flashlight").quantity == 1
    assert [(a.level, a.delivered) for a in store.alerts()] == [(StockLevel.URGENT, False)]


def test_alerts_go_through_the_claims_sender_with_the_phone_masked(caplog):
    """An urgent alert is an SMS notice through the claims' logging sender, number masked."""
    alert = SupplyAlert(
        "ZJ1",
        "浈江城区基地",
        "flashlight",
        "强光手电",
        StockLevel.URGENT,
        1,
        6,
        PersonInCharge("陈志强", "+8613800000001"),
        NOW,
    )
    with caplog.at_level(logging.INFO):
        NoticeAlertSender(LoggingSender()).send(alert)
    assert "supply_alert" in caplog.text and "SUPPLY-ZJ1" in caplog.text
    assert "138****0001" in caplog.text and "13800000001" not in caplog.text


def test_damage_check_is_due_a_day_after_use_and_cleared_by_the_check(desk, store, clock):
    """An issue makes a damage check due 24 h later; recording it clears it."""
    desk.issue("ZJ1", "flashlight", 1)
    assert [c.kind for c in overdue_checks(store.depots(), NOW + timedelta(hours=24))] == []
    late = overdue_checks(store.depots(), NOW + timedelta(hours=25))
    assert [(c.kind, c.due_at) for c in late] == [(CheckKind.DAMAGE, NOW + timedelta(hours=24))]
    clock.set(NOW + timedelta(hours=2))
    desk.record_check("ZJ1", CheckKind.DAMAGE)
    assert overdue_checks(store.depots(), NOW + timedelta(days=2)) == []


def test_monthly_and_quarterly_checks_follow_the_calendar():
    """Performance is due one calendar month after the last (31 Jan → 28 Feb), expiry three."""
    last = datetime(2026, 1, 31, 9, tzinfo=SHANGHAI_TZ)
    depot = make_depot(performance_checked_at=last, expiry_checked_at=last)
    due = {c.kind: c.due_at for c in checks_due(depot)}
    assert due == {
        CheckKind.PERFORMANCE: datetime(2026, 2, 28, 9, tzinfo=SHANGHAI_TZ),
        CheckKind.EXPIRY: datetime(2026, 4, 30, 9, tzinfo=SHANGHAI_TZ),
    }
    at_march = overdue_checks([depot], datetime(2026, 3, 2, tzinfo=SHANGHAI_TZ))
    assert [c.kind for c in at_march] == [CheckKind.PERFORMANCE]


def test_a_check_writes_off_what_it_finds_and_may_alert(desk, sender, clock):
    """An expiry check that writes off kits records the check and raises the alert it causes."""
    clock.set(NOW + timedelta(days=1))
    alerts = desk.record_check("ZJ1", CheckKind.EXPIRY, written_off={"first_aid_kit": 8})
    depot = desk.depot("ZJ1")
    assert (
        depot.expiry_checked_at == NOW + timedelta(days=1)
        and depot.line("first_aid_kit").quantity == 2
    )
    assert [(a.level, a.delivered) for a in alerts] == [(StockLevel.URGENT, True)]
    assert [a.raised_at for a in sender.sent] == [NOW + timedelta(days=1)]
    with pytest.raises(InvalidInputError):
        desk.record_check("ZJ1", CheckKind.EXPIRY, written_off={"first_aid_kit": 3})


def test_shipped_supplies_file_loads_with_the_documented_states():
    """The shipped depots load; their notes (50 % ok, 30 % reorder, one urgent) hold."""
    supplies = load_supplies(supplies_path(load_settings()))
    levels = {(d.base_id, line.item_id): line.level for d in supplies.depots for line in d.lines}
    assert levels[("QJ1", "jump_starter")] is StockLevel.OK
    assert levels[("WY", "first_aid_kit")] is StockLevel.REORDER
    assert levels[("NX", "flashlight")] is StockLevel.URGENT
    overdue = overdue_checks(supplies.depots, NOW)
    assert [(c.base_id, c.kind) for c in overdue] == [
        ("QJ1", CheckKind.PERFORMANCE),
        ("QJ1", CheckKind.DAMAGE),
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            lambda doc: doc["depots"][0]["stock"].update({"rope": {"standard": 1, "quantity": 1}}),
            "depots.0.stock.rope",
        ),
        (
            lambda doc: doc["depots"][0]["person_in_charge"].update({"phone": "12"}),
            "depots.0.person_in_charge.phone",
        ),
        (
            lambda doc: doc["depots"][0]["stock"]["tow_strap"].update({"standard": 0}),
            "depots.0.stock.tow_strap.standard",
        ),
        (
            lambda doc: doc["depots"][0].update({"performance_checked_at": "2026-02-05T09:00:00"}),
            "depots.0.performance_checked_at",
        ),
        (lambda doc: doc["depots"].append(doc["depots"][0]), "depots.6.base_id"),
    ],
)
def test_bad_supplies_file_names_the_field(tmp_path, change, field):
    """Unknown items, bad phones, zero standards, naive times and repeated depots are refused."""
    document = yaml.safe_load(supplies_path(load_settings()).read_text(encoding="utf-8"))
    change(document)
    path = tmp_path / "supplies.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InvalidInputError) as caught:
        load_supplies(path)
    assert caught.value.field == field
