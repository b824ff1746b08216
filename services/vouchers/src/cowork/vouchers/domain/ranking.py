"""The order in which a ranked programme grants, once it closes to applications."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from cowork.vouchers.domain.dates import in_utc
from cowork.vouchers.domain.eligibility import Declarations


class Criterion(StrEnum):
    YOUNGER_FIRST = "younger_first"
    NEWER_PARTITA_IVA_FIRST = "newer_partita_iva_first"
    UNEMPLOYED_FIRST = "unemployed_first"
    RESIDENT_FIRST = "resident_first"  # declared residence among the programme's ISTAT codes


@dataclass(frozen=True)
class Candidate:
    application_id: UUID
    submitted_at: datetime
    declared: Declarations


def rank(candidates: Sequence[Candidate], criteria: Sequence[Criterion],
         programme_istat: frozenset[str] = frozenset()) -> list[UUID]:
    """Application ids best first: criteria in the order given (a missing value ranks last for
    that criterion), ties broken by earlier submission, then by id (total, deterministic)."""
    criteria = [Criterion(c) for c in criteria]

    def key(candidate: Candidate) -> tuple[object, ...]:
        scores = tuple(_score(c, candidate.declared, programme_istat) for c in criteria)
        return (*scores, in_utc(candidate.submitted_at), candidate.application_id.int)

    return [c.application_id for c in sorted(candidates, key=key)]


def _score(criterion: Criterion, declared: Declarations,
           programme_istat: frozenset[str]) -> tuple[int, int]:
    """(group, order within the group), smaller first; group 1 or 2 is a missing value."""
    match criterion:
        case Criterion.YOUNGER_FIRST:
            born = declared.birth_date
            return (0, -born.toordinal()) if born else (1, 0)
        case Criterion.NEWER_PARTITA_IVA_FIRST:
            opened = declared.partita_iva_opened_on
            return (0, -opened.toordinal()) if opened else (1, 0)
        case Criterion.UNEMPLOYED_FIRST:
            return (0, 0) if "unemployed" in declared.statuses else (1, 0)
        case Criterion.RESIDENT_FIRST:
            if declared.residence_istat is None:
                return (2, 0)
            return (0, 0) if declared.residence_istat in programme_istat else (1, 0)
    raise ValueError(f"unknown criterion {criterion!r}")  # pragma: no cover - StrEnum guards
