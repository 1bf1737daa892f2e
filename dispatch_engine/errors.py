"""One exception tree for the whole core.

The API maps these to a 4xx JSON body ``{"error": {"code", "message", "field"}}`` and the
CLI to a one-line message with a non-zero exit, so every error carries a machine ``code``
and, where bad input caused it, the ``field`` that was wrong.
"""

from __future__ import annotations


class DispatchEngineError(Exception):
    """Base of every error the core raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidInputError(DispatchEngineError):
    """A value given by a caller is malformed or out of range."""

    code = "invalid_input"


class OutsideServiceAreaError(InvalidInputError):
    """A location lies outside mainland China (sea, Hong Kong, Macau, Taiwan, abroad)."""

    code = "outside_service_area"


class OffNetworkError(InvalidInputError):
    """A point is too far from any road of the network to be snapped."""

    code = "off_network"


class DataError(DispatchEngineError):
    """Embedded or configured data (boundaries, network, recipe) is missing or corrupt."""

    code = "data_error"


class NotFoundError(DispatchEngineError):
    """A record named by the caller (claim number, ticket, payment id) does not exist."""

    code = "not_found"


class ConflictError(DispatchEngineError):
    """The request contradicts stored state: an illegal state transition, or an
    idempotency key reused with a different body."""

    code = "conflict"


class ExternalServiceError(DispatchEngineError):
    """A service outside the core (SMTP server, SMS gateway) failed; retrying may help."""

    code = "external_service"
