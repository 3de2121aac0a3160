"""Validation errors that name the field at fault."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field, e.g. ``interval: must be at least 1s, got 0s``."""

    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}" if self.field else self.problem

    def within(self, prefix: str) -> FieldError:
        """The same problem, with its field placed under ``prefix``."""
        if not prefix:
            return self
        if not self.field:
            return FieldError(prefix, self.problem)
        joiner = "" if self.field.startswith("[") else "."
        return FieldError(f"{prefix}{joiner}{self.field}", self.problem)


class ValidationError(ValueError):
    """Every problem found in one definition, reported together."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(error) for error in self.errors))

    def __reduce__(self) -> tuple[type[ValidationError], tuple[list[FieldError]]]:
        # Rebuilt from its errors, not its message, when it crosses processes.
        return (ValidationError, (self.errors,))

    def within(self, prefix: str) -> ValidationError:
        return ValidationError(error.within(prefix) for error in self.errors)

    def as_dicts(self) -> list[dict[str, str]]:
        return [{"field": e.field, "problem": e.problem} for e in self.errors]
