"""Reading data files people edit: one place that turns a YAML (or JSON) file into a model.

Why: facilities, supplies, repair shops, speed profiles and calendar overrides are edited
by hand; a mistake must fail at load, naming the file and the field to fix
(``depots.2.stock.tow_strap``), never later as a missing station or a wrong deadline.
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


def first_problem(exc: ValidationError, *, where: str, whole: str = "file") -> InvalidInputError:
    """The first validation problem as our error: the reason, with ``where`` it was found
    and how many more there are; ``whole`` names the field when the problem is the file."""
    first = exc.errors(include_url=False)[0]
    more = exc.error_count() - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return InvalidInputError(
        f"{where}: {first['msg']}{suffix}", field=field_path(first["loc"]) or whole
    )


def read_yaml_model(path: Path, model: type[M], *, whole: str = "file") -> M:
    """Read ``path`` (YAML, so JSON too) and validate it as ``model``.

    Raises
    ------
    DataError
        If the file cannot be read.
    InvalidInputError
        If it is not YAML (``field`` = ``whole``), or the content does not fit ``model``
        (``field`` is the dotted path of the first bad value).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{path} is not valid YAML/JSON: {exc}", field=whole) from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise first_problem(exc, where=str(path), whole=whole) from None
