"""Changed copies of the core's frozen records (vehicles, incidents, assignments).

Why not ``dataclasses.replace``: it re-runs ``__init__``, setting each field through
the frozen class's ``object.__setattr__`` (about 4 µs a copy), and the dispatcher copies
a record at every step of a job (a simulated year makes over a million copies). For
records without ``__post_init__`` (nothing to re-check) copying the fields' values is
the same copy in a quarter of the time.
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")

_FIELDS: dict[type, tuple[str, ...]] = {}


def evolve(record: T, **changes: Any) -> T:
    """``record`` with ``changes``, as ``dataclasses.replace`` makes it.

    Only the dataclass fields are copied: values cached on the old record (a
    ``cached_property``) are worked out again for the new one.

    Raises
    ------
    TypeError
        A change names no field, or the record's class checks itself in
        ``__post_init__`` (use ``dataclasses.replace`` for those).
    """
    cls = type(record)
    fields = _FIELDS.get(cls)
    if fields is None:
        if hasattr(cls, "__post_init__"):
            raise TypeError(f"{cls.__name__} checks itself: use dataclasses.replace")
        fields = _FIELDS[cls] = tuple(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    values = record.__dict__
    # the fields only: drop what a cached_property stored on the old record
    state = dict(values) if len(values) == len(fields) else {n: values[n] for n in fields}
    size = len(state)
    state.update(changes)
    if len(state) != size:
        raise TypeError(f"{cls.__name__} has no field {sorted(set(changes) - set(fields))}")
    copy = object.__new__(cls)
    object.__setattr__(copy, "__dict__", state)
    return copy
