"""Incidents: the report a dispatcher takes, the decision returned, events and surges."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, ValidationInfo, field_validator

from api.schemas.common import (
    RECORD_ID,
    LocationIn,
    LongText,
    Moment,
    RefText,
    ShortText,
    Strict,
    Yuan,
)
from dispatch_engine.claims.intake import ClaimReport, Driver, Location, ThirdParty, Vehicle
from dispatch_engine.claims.reporting import ReportTaken
from dispatch_engine.claims.triage import AccidentType, DisasterKind
from dispatch_engine.dispatch.model import EventType, Incident
from dispatch_engine.dispatch.service import SurgeReport
from dispatch_engine.dispatch.views import incident_view
from dispatch_engine.errors import InvalidInputError
from dispatch_engine.fleet.model import VehicleKind

Plate = Annotated[str, StringConstraints(min_length=1, max_length=16)]
Phone = Annotated[str, StringConstraints(min_length=1, max_length=32)]
# ClaimReport names fields by its own structure; the body is flatter.
_FIELD_NAMES = {
    "vehicle.plate": "plate",
    "vehicle.model": "vehicle_model",
    "accident_type": "accident",
    "injured_count": "injured",
    "estimate_yuan": "estimate",
}


class ReportLocationIn(LocationIn):
    address: ShortText = Field(
        description="Street address (地址).", examples=["韶关市浈江区解放路1号"]
    )


class DriverIn(Strict):
    """Who drove; the notices (SMS, calls) go to this phone."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=50)] = Field(examples=["张三"])
    phone: Phone = Field(examples=["13812345678"])
    id_number: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="Resident identity number (居民身份证号), 18 characters.",
        examples=["11010519491231002X"],
    )
    email: Annotated[str, StringConstraints(max_length=254)] | None = None


class ThirdPartyIn(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=50)] = Field(examples=["李四"])
    plate: Plate | None = None
    phone: Phone | None = None
    injured_count: int = Field(0, ge=0, le=1000)
    death_count: int = Field(0, ge=0, le=1000)
    property_loss: bool = False


REPORT_EXAMPLE: dict[str, Any] = {
    "location": {"lat": 24.811, "lon": 113.598, "crs": "wgs84", "address": "韶关市浈江区解放路1号"},
    "plate": "粤F1234警",
    "vehicle_model": "大众帕萨特",
    "driver": {"name": "张三", "phone": "13812345678", "id_number": "11010519491231002X"},
    "accident": "multi_party",
    "injured": 0,
    "third_party_loss": True,
    "third_parties": [{"name": "李四", "plate": "粤B12345", "property_loss": True}],
    "estimate": "12000",
    "needs": ["survey", "tow_flatbed"],
    "description": "路口两车碰撞，对方车尾受损，本车无法行驶",
}


class ReportIn(Strict):
    """A report (报案) as the dispatcher takes it: it files the claim and dispatches.

    The survey is decided by triage (免查勘 rules, SPEC §6) whatever ``needs`` says; the
    other kinds in ``needs`` are sent as asked.
    """

    model_config = {"json_schema_extra": {"examples": [REPORT_EXAMPLE]}}

    location: ReportLocationIn
    reported_at: Moment | None = Field(
        None,
        description="Report time, to the minute (no seconds); default: now, to the minute.",
    )
    plate: Plate = Field(examples=["粤F1234警"])
    vehicle_model: ShortText = Field(description="Make and model (车型).")
    driver: DriverIn
    accident: AccidentType
    disaster: DisasterKind | None = Field(None, description="Only with accident natural_disaster.")
    injured: int = Field(
        0, ge=0, le=1000, description="People injured in the insured vehicle (true counts as 1)."
    )
    third_party_loss: bool | None = Field(
        None,
        description="A third party's property is damaged; must agree with third_parties "
        "(default: derived from them).",
    )
    third_parties: list[ThirdPartyIn] = Field(default_factory=list, max_length=50)
    estimate: Yuan = Field(
        description="Estimated loss in yuan (估损金额): sets the claim's deadlines and decides "
        "the survey waiver.",
        examples=["3000"],
    )
    needs: list[VehicleKind] = Field(
        default_factory=lambda: [VehicleKind.SURVEY], min_length=1, max_length=4
    )
    description: LongText
    photo_refs: list[RefText] = Field(default_factory=list, max_length=100)

    @field_validator("third_parties")
    @classmethod
    def _third_party_loss_agrees(
        cls, parties: list[ThirdPartyIn], info: ValidationInfo
    ) -> list[ThirdPartyIn]:
        said = info.data.get("third_party_loss")
        listed = any(party.property_loss for party in parties)
        if said and not listed:
            raise ValueError(
                "third_party_loss is true: list the third party whose property was damaged "
                "with property_loss true"
            )
        if said is False and listed:
            raise ValueError("third_party_loss is false but a third party has property_loss")
        return parties

    def to_report(self, reported_at: datetime) -> ClaimReport:
        """The claims core's validated report (plate, phone, ID number, ...).

        Raises
        ------
        InvalidInputError
            Naming the field as this body names it.
        """
        try:
            return ClaimReport(
                reported_at=reported_at,
                location=Location(**self.location.model_dump()),
                vehicle=Vehicle(plate=self.plate, model=self.vehicle_model),
                driver=Driver(**self.driver.model_dump()),
                accident_type=self.accident,
                description=self.description,
                estimate_yuan=self.estimate,
                disaster=self.disaster,
                injured_count=self.injured,
                third_parties=tuple(ThirdParty(**p.model_dump()) for p in self.third_parties),
                photo_refs=tuple(self.photo_refs),
            )
        except InvalidInputError as exc:
            field = _FIELD_NAMES.get(exc.field or "", exc.field)
            raise InvalidInputError(exc.message, field=field) from exc


class AssignmentOut(BaseModel):
    vehicle_id: str
    kind: VehicleKind
    status: str = Field(description="assigned, arrived or done.")
    eta_seconds: float
    distance_m: float
    meets_guarantee: bool
    estimate: bool = Field(description="The ETA is a great-circle estimate, not a road time.")


class EscalationOut(BaseModel):
    kind: str
    at: datetime
    detail: str


class TowOut(BaseModel):
    destination: str
    free: bool = Field(description="The free tow inside Guangdong (省内无偿拖车).")
    eta_seconds: float
    reason: str


class IncidentOut(BaseModel):
    """A dispatch incident: zone, both deadlines, the vehicles sent and what is missing."""

    id: str | None = Field(description="The incident id (the report number, or with -R/-2).")
    status: str = Field(description="open (a kind is unassigned), assigned, on_scene, done, ...")
    zone: str
    province: str | None
    city: str | None
    district: str | None
    reported_at: datetime
    call_due_at: datetime = Field(description="The owner must be phoned by then (5 min).")
    arrival_due_at: datetime = Field(description="On scene by then (15/30/60 min by zone).")
    called_at: datetime | None
    arrived_at: datetime | None
    assignments: list[AssignmentOut]
    unassigned_kinds: list[VehicleKind]
    escalations: list[EscalationOut]
    tow: TowOut | None

    @classmethod
    def of(cls, incident: Incident) -> IncidentOut:
        return cls.model_validate(incident_view(incident))


class ReportOut(IncidentOut):
    """The answer to a report: the dispatch decision and the claim it filed.

    When nothing was dispatched (survey waived, no other vehicle needed), ``id`` is null,
    ``status`` is ``not_dispatched`` and the deadlines still apply (the owner call).
    """

    report_no: str = Field(description="The report number (报案号) and claim number.")
    survey_waived: bool
    claim_state: str

    @classmethod
    def of_report(cls, taken: ReportTaken) -> ReportOut:
        view = incident_view(taken.incident)
        if not taken.dispatched:
            view |= {"id": None, "status": "not_dispatched", "unassigned_kinds": []}
        claim = taken.claim
        return cls.model_validate(
            view
            | {
                "report_no": claim.number,
                "survey_waived": claim.survey_waived,
                "claim_state": str(claim.state),
            }
        )


class IncidentEventIn(Strict):
    """A dispatcher's event: ``called`` (the 5-minute call), ``arrived``, ``declined``
    (reassigns, A/B partner first), ``no_show``, ``done``, ``cancelled``."""

    model_config = {"json_schema_extra": {"examples": [{"type": "arrived", "vehicle_id": "SV-1"}]}}

    type: EventType
    vehicle_id: Annotated[str, StringConstraints(pattern=RECORD_ID)] | None = Field(
        None, description="Needed by arrived, declined, no_show and done."
    )


class SurgeOut(BaseModel):
    """What one joint assignment did, and what nearest-first would have done."""

    incidents: int
    assigned: int
    met: int
    met_injury: int
    greedy_met: int
    greedy_met_injury: int
    wall_s: float

    @classmethod
    def of(cls, report: SurgeReport) -> SurgeOut:
        return cls.model_validate(report, from_attributes=True)
