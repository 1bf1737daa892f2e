"""A report taken by the dispatcher (报案, ``POST /v1/incidents``): the claim and the vehicles
in one step.

The claims service files the report as a claim (report number, survey-waiver triage,
deadlines, first SMS, idempotency) and asks the dispatch core for a surveyor unless the
survey is waived; the report number is the incident id. This module adds what a
dispatcher asks for beyond the survey:

- the other vehicle kinds of the report (tow truck, crane, repair van) travel on the same
  incident as the surveyor; when the survey is waived they are sent as the report's
  rescue incident ``<number>-R`` (the claims service keeps ``<number>`` and ``-2``, ``-3``
  for surveys, so a later survey never mistakes the rescue for itself);
- the service area is checked before anything is stored: a report outside it is refused,
  not filed as a claim that can never be dispatched;
- a retry with the same idempotency key but no report time is compared with the first
  attempt at the first attempt's time, so it is recognised as the same report even in a
  later minute (the claims service checks, in the transaction that files the claim);
- the claim and its dispatch (the incident, the vehicles claimed, the claim marked
  dispatched) commit in one transaction where the database allows it (PostgreSQL): one
  commit per report instead of two. Should the dispatch fail, that transaction is rolled
  back and the report taken again as two, the claim first: a failed dispatch then leaves
  the claim filed with the reason in its audit trail, for the dispatcher to retry. On
  SQLite the claim commits first and the dispatch after it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from dispatch_engine.claims.calendar import BusinessCalendar
from dispatch_engine.claims.intake import ClaimReport
from dispatch_engine.claims.lifecycle import Claim
from dispatch_engine.claims.ports import ClaimsStore
from dispatch_engine.claims.service import ClaimsService
from dispatch_engine.dispatch.model import Incident, IncidentRequest
from dispatch_engine.dispatch.ports import Clock
from dispatch_engine.dispatch.service import Dispatcher
from dispatch_engine.errors import DispatchEngineError, NotFoundError
from dispatch_engine.fleet.model import VehicleKind

RESCUE_SUFFIX = "-R"


class DispatchRecords(Protocol):
    """What the desk needs of the dispatch core's store (``SqlDispatchStore``)."""

    def one_transaction(self) -> AbstractContextManager[None]:
        """The store calls made inside the block commit together."""
        ...


@dataclass(frozen=True, kw_only=True)
class ReportTaken:
    """The filed claim and the incident that serves it.

    ``dispatched`` is False when nothing was sent (survey waived and no other vehicle
    needed, or dispatch failed and the claim waits for a retry); ``incident`` then only
    carries the zone and deadlines, and is not stored.
    """

    claim: Claim
    incident: Incident
    dispatched: bool


class _DispatchFailed(Exception):
    """The dispatch failed inside the report's one transaction: roll it all back."""


class _SurveyWithExtras:
    """The dispatch core as the claims service sees it for one report: the surveyor it asks
    for, with the report's other vehicles on the same incident.

    ``undo_on_failure``: inside the report's one transaction a failed dispatch may have
    claimed vehicles in it already, so its error becomes :class:`_DispatchFailed`, which
    the claims service does not handle and which rolls the whole transaction back.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        records: DispatchRecords,
        extras: tuple[VehicleKind, ...],
        *,
        undo_on_failure: bool,
    ) -> None:
        self._dispatcher = dispatcher
        self._records = records
        self._extras = extras
        self._undo_on_failure = undo_on_failure
        self.dispatched: Incident | None = None

    def dispatch(self, request: IncidentRequest) -> Incident:
        needs = tuple(dict.fromkeys((*request.needs, *self._extras)))
        try:
            with self._records.one_transaction():
                self.dispatched = self._dispatcher.dispatch(
                    dataclasses.replace(request, needs=needs)
                )
        except DispatchEngineError as exc:
            if self._undo_on_failure:
                raise _DispatchFailed from exc
            raise
        return self.dispatched

    def incident(self, incident_id: str) -> Incident:
        return self._dispatcher.incident(incident_id)


class ReportDesk:
    """Takes reports for dispatchers; see the module doc.

    Parameters
    ----------
    claims_store
        Where claims are filed (shared with the claims services).
    records
        The dispatch core's store (``SqlDispatchStore``): one transaction per dispatch.
    clock, calendar
        As for ``ClaimsService``.
    dispatcher
        The dispatch core.
    """

    def __init__(
        self,
        *,
        claims_store: ClaimsStore,
        records: DispatchRecords,
        clock: Clock,
        calendar: BusinessCalendar,
        dispatcher: Dispatcher,
    ) -> None:
        self._store = claims_store
        self._records = records
        self._clock = clock
        self._calendar = calendar
        self._dispatcher = dispatcher

    def take(
        self,
        report: ClaimReport,
        *,
        needs: tuple[VehicleKind, ...] = (VehicleKind.SURVEY,),
        actor: str,
        idempotency_key: str | None = None,
        time_defaulted: bool = False,
    ) -> ReportTaken:
        """File ``report`` as a claim and send the vehicles it needs.

        Parameters
        ----------
        report
            The validated report.
        needs
            Vehicle kinds asked for. The survey is decided by triage whatever this says:
            sent unless waived.
        actor
            Who takes the report (for the audit log).
        idempotency_key
            A repeated call with the same key and report returns the first result.
        time_defaulted
            ``report.reported_at`` was not given by the caller but defaulted to now.

        Raises
        ------
        OutsideServiceAreaError
            Before anything is stored, for a location outside the service area.
        ConflictError
            ``field="idempotency_key"`` when the key was used for a different report.
        """
        lat, lon = report.position_wgs84
        survey = IncidentRequest(
            id="preview",
            lat=lat,
            lon=lon,
            reported_at=report.reported_at,
            needs=(VehicleKind.SURVEY,),
            injured=report.anyone_injured,
        )
        self._dispatcher.open_incident(survey)  # refuses a place outside the service area
        extras = tuple(kind for kind in dict.fromkeys(needs) if kind is not VehicleKind.SURVEY)

        def file(*, together: bool) -> tuple[Claim, _SurveyWithExtras]:
            dispatch = _SurveyWithExtras(
                self._dispatcher, self._records, extras, undo_on_failure=together
            )
            claims = ClaimsService(
                self._store, clock=self._clock, calendar=self._calendar, dispatch=dispatch
            )
            claim = claims.report(
                report,
                actor=actor,
                idempotency_key=idempotency_key,
                time_defaulted=time_defaulted,
            )
            return claim, dispatch

        claim, dispatch = self._file_and_dispatch(file)
        if claim.incident_id is not None:
            incident = dispatch.dispatched or self._dispatcher.incident(claim.incident_id)
            return ReportTaken(claim=claim, incident=incident, dispatched=True)
        # The claim's report time: a retry's claim is the first attempt's.
        filed = dataclasses.replace(survey, id=claim.number, reported_at=claim.report.reported_at)
        if claim.survey_waived and extras:
            rescue = dataclasses.replace(filed, id=claim.number + RESCUE_SUFFIX, needs=extras)
            return ReportTaken(claim=claim, incident=self._rescue(rescue), dispatched=True)
        unsent = self._dispatcher.open_incident(filed)
        return ReportTaken(claim=claim, incident=unsent, dispatched=False)

    def _file_and_dispatch(
        self, file: Callable[..., tuple[Claim, _SurveyWithExtras]]
    ) -> tuple[Claim, _SurveyWithExtras]:
        """``file(together=...)`` in one transaction where the store joins them, and again
        as the claim's and the dispatch's own transactions if the dispatch failed in it."""
        if not self._store.joins_transactions:
            return file(together=False)
        try:
            with self._store.together():
                return file(together=True)
        except _DispatchFailed:
            return file(together=False)

    def _rescue(self, request: IncidentRequest) -> Incident:
        """The rescue incident, opened once (a retried report finds it)."""
        try:
            return self._dispatcher.incident(request.id)
        except NotFoundError:
            with self._records.one_transaction():
                return self._dispatcher.dispatch(request)
