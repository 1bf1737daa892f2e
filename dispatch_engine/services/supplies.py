"""Emergency supplies of the rescue depots: stock against a standard, alerts, scheduled checks.

From the tender (应急物资保障): each rescue base keeps tow tools, repair tools, first-aid
kits and lighting against a standard quantity; issues and restocks are recorded;

- a line *below 50 %* of its standard raises a **reorder** alert (the system alarm: call
  the supplier);
- *below 30 %* an **urgent** alert, sent by SMS to the depot's named person in charge
  (emergency transfer or another supplier).

"Below" (低于) is strict: exactly 50 % is fine and exactly 30 % is a reorder, not urgent.
Levels compare integers (``quantity * 100 < 50 * standard``), so no rounding decides.
An alert fires when a movement takes a line into a worse level, not again while it stays
there; a restock above the threshold re-arms it.

Checks (检查周期): performance monthly (due one calendar month after the last), expiry
quarterly (three months), damage after each use (due :data:`DAMAGE_CHECK_WITHIN` after an
issue, our decision). A check can write off what it finds expired or damaged, which counts
as a movement and can raise an alert. Time comes from an injected aware clock.

Urgent alerts go through an :class:`AlertSender`; :class:`NoticeAlertSender` delivers them
with the claims' notification senders (``claims.notices.NoticeSender``: the logging sender
standing in for the SMS gateway, or a real one), as an SMS notice of kind
``supply_alert`` whose reference is the depot.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from dateutil.relativedelta import relativedelta
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from dispatch_engine.claims.intake import check_phone
from dispatch_engine.claims.notices import Channel, Notice, NoticeKind, NoticeSender
from dispatch_engine.datafiles import read_yaml_model
from dispatch_engine.dispatch.ports import Clock
from dispatch_engine.errors import ExternalServiceError, InvalidInputError, NotFoundError
from dispatch_engine.settings import Settings

REORDER_BELOW_PERCENT = 50
URGENT_BELOW_PERCENT = 30
DAMAGE_CHECK_WITHIN = timedelta(hours=24)


class Category(StrEnum):
    TOW_TOOLS = "tow_tools"
    REPAIR_TOOLS = "repair_tools"
    FIRST_AID = "first_aid"
    LIGHTING = "lighting"


class StockLevel(StrEnum):
    OK = "ok"
    REORDER = "reorder"
    URGENT = "urgent"


_SEVERITY = {StockLevel.OK: 0, StockLevel.REORDER: 1, StockLevel.URGENT: 2}


class CheckKind(StrEnum):
    PERFORMANCE = "performance"  # monthly
    EXPIRY = "expiry"  # quarterly
    DAMAGE = "damage"  # after each use


CHECK_INTERVAL = {
    CheckKind.PERFORMANCE: relativedelta(months=1),
    CheckKind.EXPIRY: relativedelta(months=3),
}


class MovementKind(StrEnum):
    ISSUE = "issue"
    RESTOCK = "restock"
    WRITE_OFF = "write_off"


def stock_level(quantity: int, standard: int) -> StockLevel:
    """The alert level of ``quantity`` against ``standard`` (strictly below 30 % / 50 %)."""
    if quantity * 100 < URGENT_BELOW_PERCENT * standard:
        return StockLevel.URGENT
    if quantity * 100 < REORDER_BELOW_PERCENT * standard:
        return StockLevel.REORDER
    return StockLevel.OK


@dataclass(frozen=True)
class SupplyItem:
    id: str
    name: str
    category: Category


@dataclass(frozen=True)
class StockLine:
    item_id: str
    standard: int
    quantity: int

    @property
    def level(self) -> StockLevel:
        return stock_level(self.quantity, self.standard)


@dataclass(frozen=True)
class PersonInCharge:
    name: str
    phone: str  # E.164


@dataclass(frozen=True)
class Depot:
    """A rescue base's store: stock lines in catalogue order and when each check was last done.

    ``used_at`` is the last issue; a damage check is due after it.
    """

    base_id: str
    name: str
    person: PersonInCharge
    lines: tuple[StockLine, ...]
    performance_checked_at: datetime
    expiry_checked_at: datetime
    damage_checked_at: datetime | None = None
    used_at: datetime | None = None

    def line(self, item_id: str) -> StockLine:
        """The stock line of ``item_id``.

        Raises
        ------
        NotFoundError
            If the depot does not stock the item.
        """
        for line in self.lines:
            if line.item_id == item_id:
                return line
        raise NotFoundError(f"{self.base_id} does not stock {item_id!r}", field="item_id")


@dataclass(frozen=True)
class Movement:
    """One recorded change of stock; ``change`` is negative for issues and write-offs."""

    base_id: str
    item_id: str
    kind: MovementKind
    change: int
    at: datetime


@dataclass(frozen=True)
class SupplyAlert:
    """A line that fell into a worse level; urgent ones are sent to ``person``."""

    base_id: str
    depot: str
    item_id: str
    item: str
    level: StockLevel
    quantity: int
    standard: int
    person: PersonInCharge
    raised_at: datetime
    delivered: bool = False

    @property
    def message(self) -> str:
        """The SMS text (Chinese): what, where, how many against the standard."""
        action = (
            "请紧急调配物资或联系替代供应商"
            if self.level is StockLevel.URGENT
            else "请联系供应商补货"
        )
        return (
            f"【应急物资预警】{self.depot}{self.item}库存{self.quantity}，"
            f"低于标准{self.standard}的{_threshold(self.level)}%，{action}。"
        )


def _threshold(level: StockLevel) -> int:
    return URGENT_BELOW_PERCENT if level is StockLevel.URGENT else REORDER_BELOW_PERCENT


@dataclass(frozen=True)
class DueCheck:
    """A scheduled check of a depot and when it is (or was) due."""

    base_id: str
    depot: str
    kind: CheckKind
    due_at: datetime
    last_done_at: datetime | None


def checks_due(depot: Depot) -> list[DueCheck]:
    """The depot's next performance and expiry checks, and a damage check if used since the last."""
    due = [
        DueCheck(depot.base_id, depot.name, kind, last + CHECK_INTERVAL[kind], last)
        for kind, last in (
            (CheckKind.PERFORMANCE, depot.performance_checked_at),
            (CheckKind.EXPIRY, depot.expiry_checked_at),
        )
    ]
    used, checked = depot.used_at, depot.damage_checked_at
    if used is not None and (checked is None or checked < used):
        due.append(
            DueCheck(
                depot.base_id, depot.name, CheckKind.DAMAGE, used + DAMAGE_CHECK_WITHIN, checked
            )
        )
    return due


def overdue_checks(depots: Iterable[Depot], now: datetime) -> list[DueCheck]:
    """Checks past their due time at ``now``, most overdue first."""
    late = [check for depot in depots for check in checks_due(depot) if check.due_at < now]
    return sorted(late, key=lambda c: (c.due_at, c.base_id, c.kind))


# --- the file ---------------------------------------------------------------------------


class _ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    category: Category


class _LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    standard: int = Field(gt=0)
    quantity: int = Field(ge=0)


class _PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    phone: str


class _DepotIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    base_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    person_in_charge: _PersonIn
    stock: dict[str, _LineIn] = Field(min_length=1)
    performance_checked_at: AwareDatetime
    expiry_checked_at: AwareDatetime
    damage_checked_at: AwareDatetime | None = None
    used_at: AwareDatetime | None = None


class _SuppliesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    items: list[_ItemIn] = Field(min_length=1)
    depots: list[_DepotIn] = Field(min_length=1)


@dataclass(frozen=True)
class Supplies:
    """The item catalogue and every depot's state, as read from the supplies file."""

    items: Mapping[str, SupplyItem]
    depots: tuple[Depot, ...]


def supplies_path(settings: Settings) -> Path:
    """The shipped supplies file under the settings' data directory."""
    return settings.data_dir / "services" / "supplies.yaml"


def load_supplies(path: Path) -> Supplies:
    """Read and validate a supplies file (catalogue, then per depot: person, stock, checks).

    Raises
    ------
    DataError
        If the file cannot be read.
    InvalidInputError
        On the first bad field (dotted path), an unknown item, a repeated id or an invalid
        phone number.
    """
    parsed = read_yaml_model(path, _SuppliesIn)
    items: dict[str, SupplyItem] = {}
    for index, item in enumerate(parsed.items):
        if item.id in items:
            raise InvalidInputError(f"duplicate item {item.id!r}", field=f"items.{index}.id")
        items[item.id] = SupplyItem(item.id, item.name, item.category)
    depots: dict[str, Depot] = {}
    for index, depot in enumerate(parsed.depots):
        where = f"depots.{index}"
        if depot.base_id in depots:
            raise InvalidInputError(f"duplicate depot {depot.base_id!r}", field=f"{where}.base_id")
        for item_id in depot.stock:
            if item_id not in items:
                raise InvalidInputError(
                    f"unknown item {item_id!r}", field=f"{where}.stock.{item_id}"
                )
        phone = check_phone(depot.person_in_charge.phone, field=f"{where}.person_in_charge.phone")
        depots[depot.base_id] = Depot(
            base_id=depot.base_id,
            name=depot.name,
            person=PersonInCharge(depot.person_in_charge.name, phone),
            lines=tuple(
                StockLine(item_id, depot.stock[item_id].standard, depot.stock[item_id].quantity)
                for item_id in items
                if item_id in depot.stock
            ),
            performance_checked_at=depot.performance_checked_at,
            expiry_checked_at=depot.expiry_checked_at,
            damage_checked_at=depot.damage_checked_at,
            used_at=depot.used_at,
        )
    return Supplies(items, tuple(depots[b] for b in sorted(depots)))


# --- recording movements and checks -----------------------------------------------------


class AlertSender(Protocol):
    """Delivers an urgent alert to its person in charge; raises
    :class:`~dispatch_engine.errors.ExternalServiceError` when it could not."""

    def send(self, alert: SupplyAlert) -> None: ...


class NoticeAlertSender:
    """Sends urgent alerts as SMS notices through a claims :class:`NoticeSender`."""

    def __init__(self, sender: NoticeSender) -> None:
        self._sender = sender

    def send(self, alert: SupplyAlert) -> None:
        self._sender.send(
            Notice(
                claim_number=f"SUPPLY-{alert.base_id}",
                kind=NoticeKind.SUPPLY_ALERT,
                channel=Channel.SMS,
                recipient=alert.person.phone,
                subject=f"{alert.depot} {alert.item}",
                body=alert.message,
                due_at=alert.raised_at,
                created_at=alert.raised_at,
            )
        )


class SupplyStore(Protocol):
    """Depots, their movements and the alerts raised; writes are whole records."""

    def depot(self, base_id: str) -> Depot | None: ...

    def depots(self) -> list[Depot]: ...

    def save_depot(self, depot: Depot) -> None: ...

    def append_movement(self, movement: Movement) -> None: ...

    def movements(self) -> list[Movement]: ...

    def append_alert(self, alert: SupplyAlert) -> None: ...

    def alerts(self) -> list[SupplyAlert]: ...


class MemorySupplyStore:
    """Supplies state in memory, starting from the depots of a supplies file."""

    def __init__(self, depots: Iterable[Depot]) -> None:
        self._depots = {d.base_id: d for d in depots}
        self._movements: list[Movement] = []
        self._alerts: list[SupplyAlert] = []

    def depot(self, base_id: str) -> Depot | None:
        return self._depots.get(base_id)

    def depots(self) -> list[Depot]:
        return [self._depots[b] for b in sorted(self._depots)]

    def save_depot(self, depot: Depot) -> None:
        self._depots[depot.base_id] = depot

    def append_movement(self, movement: Movement) -> None:
        self._movements.append(movement)

    def movements(self) -> list[Movement]:
        return list(self._movements)

    def append_alert(self, alert: SupplyAlert) -> None:
        self._alerts.append(alert)

    def alerts(self) -> list[SupplyAlert]:
        return list(self._alerts)


class SupplyDesk:
    """Records issues, restocks and checks of the depots, and raises the alerts."""

    def __init__(
        self,
        store: SupplyStore,
        *,
        items: Mapping[str, SupplyItem],
        clock: Clock,
        sender: AlertSender,
    ) -> None:
        self._store = store
        self._items = items
        self._clock = clock
        self._sender = sender

    def depot(self, base_id: str) -> Depot:
        """The depot of ``base_id``.

        Raises
        ------
        NotFoundError
            If there is none.
        """
        depot = self._store.depot(base_id)
        if depot is None:
            raise NotFoundError(f"no rescue depot at base {base_id!r}", field="base_id")
        return depot

    def issue(self, base_id: str, item_id: str, quantity: int) -> SupplyAlert | None:
        """Take ``quantity`` out for a rescue; a damage check becomes due.

        Returns
        -------
        SupplyAlert or None
            The alert if the line fell into a worse level (an urgent one has been sent).

        Raises
        ------
        InvalidInputError
            If ``quantity`` is not positive or more than the stock.
        NotFoundError
            If the depot or item is unknown.
        ExternalServiceError
            If an urgent alert could not be delivered; the issue and the (undelivered)
            alert are recorded all the same.
        """
        depot = self.depot(base_id)
        _positive(quantity)
        if quantity > depot.line(item_id).quantity:
            raise InvalidInputError(
                f"only {depot.line(item_id).quantity} {item_id} in stock at {base_id}",
                field="quantity",
            )
        now = self._clock.now()
        return self._move(
            dataclasses.replace(depot, used_at=now), item_id, MovementKind.ISSUE, -quantity, now
        )

    def restock(self, base_id: str, item_id: str, quantity: int) -> StockLine:
        """Add ``quantity`` delivered by a supplier; returns the new line.

        Raises
        ------
        InvalidInputError
            If ``quantity`` is not positive.
        NotFoundError
            If the depot or item is unknown.
        """
        _positive(quantity)
        self._move(self.depot(base_id), item_id, MovementKind.RESTOCK, quantity, self._clock.now())
        return self.depot(base_id).line(item_id)

    def record_check(
        self, base_id: str, kind: CheckKind, *, written_off: Mapping[str, int] | None = None
    ) -> list[SupplyAlert]:
        """Record a check done now, writing off what it found expired or damaged.

        Returns
        -------
        list of SupplyAlert
            Alerts raised by the write-offs.

        Raises
        ------
        InvalidInputError, NotFoundError, ExternalServiceError
            As :meth:`issue`, for each written-off line.
        """
        depot = self.depot(base_id)
        now = self._clock.now()
        for item_id, quantity in (written_off or {}).items():
            _positive(quantity)
            if quantity > depot.line(item_id).quantity:
                raise InvalidInputError(
                    f"cannot write off more {item_id} than in stock", field="written_off"
                )
        self._store.save_depot(_checked(depot, kind, now))
        alerts = []
        for item_id, quantity in sorted((written_off or {}).items()):
            alert = self._move(self.depot(base_id), item_id, MovementKind.WRITE_OFF, -quantity, now)
            if alert is not None:
                alerts.append(alert)
        return alerts

    def _move(
        self, depot: Depot, item_id: str, kind: MovementKind, change: int, now: datetime
    ) -> SupplyAlert | None:
        before = depot.line(item_id)
        after = dataclasses.replace(before, quantity=before.quantity + change)
        lines = tuple(after if line.item_id == item_id else line for line in depot.lines)
        self._store.save_depot(dataclasses.replace(depot, lines=lines))
        self._store.append_movement(Movement(depot.base_id, item_id, kind, change, now))
        if _SEVERITY[after.level] <= _SEVERITY[before.level]:
            return None
        alert = SupplyAlert(
            depot.base_id,
            depot.name,
            item_id,
            self._items[item_id].name,
            after.level,
            after.quantity,
            after.standard,
            depot.person,
            now,
        )
        if alert.level is StockLevel.URGENT:
            try:
                self._sender.send(alert)
            except ExternalServiceError:
                self._store.append_alert(alert)
                raise
            alert = dataclasses.replace(alert, delivered=True)
        self._store.append_alert(alert)
        return alert


def _checked(depot: Depot, kind: CheckKind, at: datetime) -> Depot:
    match kind:
        case CheckKind.PERFORMANCE:
            return dataclasses.replace(depot, performance_checked_at=at)
        case CheckKind.EXPIRY:
            return dataclasses.replace(depot, expiry_checked_at=at)
        case CheckKind.DAMAGE:
            return dataclasses.replace(depot, damage_checked_at=at)


def _positive(quantity: int) -> None:
    if quantity <= 0:
        raise InvalidInputError(f"must be a positive count, got {quantity}", field="quantity")
