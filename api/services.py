"""The API's running parts, built once per app from settings, and the calls routers make.

Routers validate (schemas), authorise (``deps``) and answer; everything between goes
through :class:`Services`: it converts the request models to the core's records, names
the caller for the audit log (``acting_as``) and calls the core. Nothing here decides a
business rule: the dispatch core, the claims services and the report desk do.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from api.auth import Authenticator
from api.metrics import Metrics
from api.schemas.claims import (
    ApproveStep,
    AssessmentStep,
    CancelStep,
    ClaimStepIn,
    CloseStep,
    DispatchStep,
    PayeeIn,
    ReopenStep,
    SurveyStep,
)
from api.schemas.complaints import (
    ComplaintStepIn,
    FeedbackStep,
    FollowUpStep,
    HandlingStep,
    ResolveStep,
)
from api.schemas.incidents import IncidentEventIn, ReportIn
from api.schemas.vehicles import VehiclePatch
from dispatch_engine.claims.audit import AuditEntry
from dispatch_engine.claims.calendar import (
    SHANGHAI_TZ,
    BusinessCalendar,
    load_calendar_overrides,
)
from dispatch_engine.claims.complaints import Complaint, ComplaintsService
from dispatch_engine.claims.intake import load_id_number_places
from dispatch_engine.claims.lifecycle import Claim
from dispatch_engine.claims.payments import Payee, PayeeAuthorisation
from dispatch_engine.claims.reporting import ReportDesk, ReportTaken
from dispatch_engine.claims.service import ClaimsService
from dispatch_engine.claims.settlement import SettlementService
from dispatch_engine.dispatch.model import Incident, IncidentStatus
from dispatch_engine.dispatch.ports import Clock, SystemClock
from dispatch_engine.dispatch.service import Dispatcher, SurgeReport
from dispatch_engine.errors import InvalidInputError, NotFoundError
from dispatch_engine.fleet.files import load_fleet
from dispatch_engine.fleet.model import Vehicle, VehicleKind, VehicleStatus
from dispatch_engine.geo.crs import to_wgs84
from dispatch_engine.network.router import Router
from dispatch_engine.services.appointments import Appointment, AppointmentBook, AppointmentRequest
from dispatch_engine.services.day_routes import (
    DayPlan,
    build_day_problem,
    solve_day,
    technicians_on,
)
from dispatch_engine.services.facilities import Facility, facilities_path, load_facilities
from dispatch_engine.settings import Settings, database_target, fleet_path
from dispatch_engine.store.appointments_sql import SqlAppointmentStore
from dispatch_engine.store.claims_sql import SqlClaimsStore
from dispatch_engine.store.db import make_engine
from dispatch_engine.store.dispatch_sql import (
    ApiKey,
    SqlApiKeys,
    SqlDispatchStore,
    StaleIncidentError,
    acting_as,
)
from dispatch_engine.store.migrate import upgrade
from dispatch_engine.wiring import build_dispatcher

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Enough connections for the server's worker threads, so requests queue in the database
# (row locks, SQLite's write lock) rather than in the pool. The pool hands out the most
# recently returned connection (LIFO): the few a server's threads keep busy stay warm
# (their PostgreSQL backends' caches, statements prepared), where the default FIFO order
# cycles through all of them; measured: 8 % less PostgreSQL CPU per report.
POOL_SIZE = 20
POOL_OVERFLOW = 20
# A change of existing incidents that lost a race with another request (another server
# process, say) is done again from a fresh read this many times in all before a 409.
STALE_ATTEMPTS = 3


@dataclass
class Services:
    """Everything one app uses; see :meth:`build`."""

    settings: Settings
    clock: Clock
    engine: Engine
    store: SqlDispatchStore
    dispatcher: Dispatcher
    desk: ReportDesk
    claims_store: SqlClaimsStore
    claims: ClaimsService
    settlement: SettlementService
    complaints: ComplaintsService
    auth: Authenticator
    metrics: Metrics
    appointments: AppointmentBook
    facilities: tuple[Facility, ...]
    _appointments_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(
        cls, settings: Settings, *, clock: Clock | None = None, router: Router | None = None
    ) -> Services:
        """Connect, migrate, seed the vehicles' live state and assemble the core.

        Parameters
        ----------
        settings
            ``db_url`` (or the default SQLite file), network, fleet file, ...
        clock
            Time of every step (tests pass a ``ManualClock``).
        router
            A ready travel-time router (tests share one); default: from the settings,
            with the week's traffic hours prepared.
        """
        clock = clock or SystemClock()
        load_id_number_places()
        engine = make_engine(
            database_target(settings),
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            pool_use_lifo=True,
        )
        upgrade(engine)
        metrics = Metrics()
        store = SqlDispatchStore(
            engine,
            load_fleet(fleet_path(settings)),
            clock=clock,
            observer=metrics.observe_incident,
        )
        store.sync_fleet()
        dispatcher = build_dispatcher(settings, store=store, clock=clock, router=router)
        if router is None:
            # Every traffic hour of the week made ready now (a second or two): otherwise
            # the first report of each hour in each server process waits for its hour.
            dispatcher.router.road.prepare_week()
        calendar = BusinessCalendar(
            overrides=()
            if settings.calendar_file is None
            else load_calendar_overrides(settings.calendar_file)
        )
        claims_store = SqlClaimsStore(engine)
        facilities = tuple(load_facilities(facilities_path(settings)))
        return cls(
            settings=settings,
            clock=clock,
            engine=engine,
            store=store,
            dispatcher=dispatcher,
            desk=ReportDesk(
                claims_store=claims_store,
                records=store,
                clock=clock,
                calendar=calendar,
                dispatcher=dispatcher,
            ),
            claims_store=claims_store,
            claims=ClaimsService(claims_store, clock=clock, calendar=calendar, dispatch=dispatcher),
            settlement=SettlementService(claims_store, clock=clock, calendar=calendar),
            complaints=ComplaintsService(claims_store, clock=clock, calendar=calendar),
            auth=Authenticator(SqlApiKeys(engine, clock=clock)),
            metrics=metrics,
            appointments=AppointmentBook(
                SqlAppointmentStore(engine), facilities=facilities, clock=clock
            ),
            facilities=facilities,
        )

    def book_appointment(self, request: AppointmentRequest) -> Appointment:
        """Book under the lock: ids are numbered from the stored count."""
        with self._appointments_lock:
            return self.appointments.book(request)

    def cancel_appointment(self, appointment_id: str) -> Appointment:
        with self._appointments_lock:
            return self.appointments.cancel(appointment_id)

    def day_plan(self, day: date, *, time_limit_s: float) -> DayPlan:
        """The day's booked appointments on the technicians on shift, by road times."""
        technicians = technicians_on(self.store.fleet(), day)
        problem = build_day_problem(
            self.appointments.list(day=day),
            self.facilities,
            technicians,
            self.dispatcher.router.road,
            day,
        )
        return solve_day(problem, time_limit_s=time_limit_s)

    def close(self) -> None:
        self.engine.dispose()

    def database_ok(self) -> bool:
        """Whether the database answers (for ``/healthz``)."""
        try:
            with self.engine.connect() as connection:
                return connection.execute(text("SELECT 1")).scalar_one() == 1
        except DBAPIError:
            logger.exception("database unreachable")
            return False

    def now(self) -> datetime:
        return self.clock.now().astimezone(SHANGHAI_TZ)

    # --- dispatch ---------------------------------------------------------------------------

    def report(self, body: ReportIn, *, caller: ApiKey, idempotency_key: str | None) -> ReportTaken:
        """Take a report: file the claim and dispatch (``ReportDesk.take``)."""
        reported_at = body.reported_at or self.now().replace(second=0, microsecond=0)
        report = body.to_report(reported_at)
        with acting_as(caller.actor):
            return self.desk.take(
                report,
                needs=tuple(body.needs),
                actor=caller.actor,
                idempotency_key=idempotency_key,
                time_defaulted=body.reported_at is None,
            )

    def record(self, incident_id: str, event: IncidentEventIn, *, caller: ApiKey) -> Incident:
        """A dispatcher's event on an incident (declines reassign)."""
        with acting_as(caller.actor):
            return self._as_read(
                lambda: self.dispatcher.record(incident_id, event.type, vehicle_id=event.vehicle_id)
            )

    def surge(self, *, caller: ApiKey) -> SurgeReport:
        """Assign every open incident's missing vehicles jointly."""
        with acting_as(caller.actor):
            return self._as_read(self.dispatcher.surge)

    def check_escalations(self) -> int:
        """Raise and store the escalations of deadlines passed; returns how many."""
        return len(self._as_read(self.dispatcher.check_escalations))

    def _as_read(self, change: Callable[[], T]) -> T:
        """Run a change of existing incidents in one transaction that saves them only as
        read: if another request (in this or another server process) changed one of them
        meanwhile, the whole change is rolled back and done again from a fresh read."""
        attempt = 1
        while True:
            try:
                with self.store.one_transaction(serialise=True):
                    return change()
            except StaleIncidentError:
                if attempt == STALE_ATTEMPTS:
                    raise
                logger.info("incident changed concurrently; attempt %d again", attempt)
                attempt += 1

    def incidents(
        self,
        *,
        status: IncidentStatus | None,
        zone: str | None,
        overdue: bool,
        limit: int,
        offset: int,
    ) -> list[Incident]:
        """A page of incidents (one more than ``limit`` when more exist)."""
        return self.store.list_incidents(
            status=status,
            zone=zone,
            overdue_at=self.clock.now() if overdue else None,
            limit=limit + 1,
            offset=offset,
        )

    def vehicles(self, *, kind: VehicleKind | None, status: VehicleStatus | None) -> list[Vehicle]:
        """The vehicles as stored now (also what other server processes changed)."""
        return [
            vehicle
            for vehicle in self.store.refresh_fleet().vehicles
            if (kind is None or vehicle.kind == kind)
            and (status is None or vehicle.status == status)
        ]

    def update_vehicle(self, vehicle_id: str, patch: VehiclePatch, *, caller: ApiKey) -> Vehicle:
        """Status and/or position (any supported crs, stored in WGS-84)."""
        if vehicle_id not in {v.id for v in self.store.fleet().vehicles}:
            raise NotFoundError(f"no vehicle {vehicle_id}", field="vehicle_id")
        position = None
        if patch.position is not None:
            try:
                position = to_wgs84(patch.position.lat, patch.position.lon, patch.position.crs)
            except InvalidInputError as exc:
                raise InvalidInputError(exc.message, field=f"position.{exc.field}") from exc
        with acting_as(caller.actor):
            return self.dispatcher.update_vehicle(
                vehicle_id, status=patch.status, position=position
            )

    def audit(self, entity: str, ref: str) -> list[AuditEntry]:
        """The audit trail of one record (``incident``, ``claim``, ``complaint``)."""
        with self.claims_store.transaction() as tx:
            return tx.audit_entries(entity, ref)

    # --- claims -----------------------------------------------------------------------------

    def claim_step(self, number: str, step: ClaimStepIn, *, caller: ApiKey) -> Claim:
        """One lifecycle step of a claim (the state machine refuses illegal ones: 409)."""
        actor = caller.actor
        with acting_as(actor):
            match step:
                case DispatchStep():
                    return self.claims.dispatch_survey(number, actor=actor)
                case SurveyStep():
                    return self.claims.record_survey(number, actor=actor)
                case AssessmentStep():
                    return self.claims.record_assessment(number, step.amount_yuan, actor=actor)
                case ApproveStep():
                    return self.settlement.approve(number, step.amount_yuan, actor=actor)
                case CloseStep():
                    return self.claims.close(number, actor=actor)
                case CancelStep():
                    return self.claims.cancel(number, actor=actor, reason=step.reason)
                case ReopenStep():
                    return self.claims.reopen(number, actor=actor, reason=step.reason)
        raise InvalidInputError(f"unknown step {step!r}", field="type")

    def reestimate(
        self, number: str, estimate_yuan: Decimal, reason: str, *, caller: ApiKey
    ) -> Claim:
        """A new loss estimate; a lost survey waiver dispatches a surveyor."""
        with acting_as(caller.actor):
            return self.claims.reestimate(number, estimate_yuan, actor=caller.actor, reason=reason)

    def authorise_payee(self, number: str, body: PayeeIn, *, caller: ApiKey) -> Payee:
        return self.settlement.authorise_payee(
            number, PayeeAuthorisation(**body.model_dump()), actor=caller.actor
        )

    # --- complaints ---------------------------------------------------------------------------

    def complaint_step(self, ticket: str, step: ComplaintStepIn, *, caller: ApiKey) -> Complaint:
        """One handling step of a complaint (out of order: 409)."""
        actor = caller.actor
        match step:
            case HandlingStep():
                return self.complaints.start_handling(ticket, actor=actor)
            case FeedbackStep():
                return self.complaints.give_feedback(ticket, step.text, actor=actor)
            case ResolveStep():
                return self.complaints.resolve(ticket, step.text, actor=actor)
            case FollowUpStep():
                return self.complaints.follow_up(ticket, step.text, actor=actor)
        raise InvalidInputError(f"unknown step {step!r}", field="type")
