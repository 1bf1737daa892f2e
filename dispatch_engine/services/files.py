"""Reading the services' data files: one place that turns a YAML file into a validated model.

Why: the facilities and supplies files are edited by people; a mistake must fail at load,
naming the file and the field to fix (``depots.2.stock.tow_strap``), never later as a
missing station or a wrong alert.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from dispatch_engine.errors import DataError, InvalidInputError

M = TypeVar("M", bound=BaseModel)


def field_path(loc: tuple[int | str, ...]) -> str:
    """Pydantic's error location as a dotted field path (``depots.2.stock``)."""
    return ".".join(str(part) for part in loc)


def first_problem(exc: ValidationError, *, where: str) -> InvalidInputError:
    """The first validation problem as our error: the reason, with ``where`` it was found."""
    first = exc.errors(include_url=False)[0]
    return InvalidInputError(f"{where}: {first['msg']}", field=field_path(first["loc"]))


def read_yaml_model(path: Path, model: type[M]) -> M:
    """Read ``path`` (YAML) and validate it as ``model``.

    Raises
    ------
    DataError
        If the file cannot be read or is not YAML.
    InvalidInputError
        If the content does not fit ``model``; ``field`` is the dotted path of the first
        bad value.
    """
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise first_problem(exc, where=Path(path).name) from None
