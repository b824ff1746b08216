"""What a declared codice fiscale says about its holder: the birth date it encodes."""

from __future__ import annotations

from datetime import date

from stdnum.exceptions import ValidationError
from stdnum.it import codicefiscale

PERSONAL_TAX_CODE_LENGTH = 16  # a person's codice fiscale; 11 characters is a partita IVA


def birth_date_agrees(birth_date: date, tax_code: str) -> bool:
    """Whether a declared birth date is the one the declared codice fiscale encodes
    (omocodia, letters in place of digits, and a woman's day + 40 read by python-stdnum).
    The code holds two digits of the year, so the century is not compared. A partita IVA says
    nothing about a birth date; a 16-character code whose date cannot be read cannot confirm
    the declared one."""
    code = tax_code.strip().upper()
    if len(code) != PERSONAL_TAX_CODE_LENGTH:
        return True
    try:
        encoded = codicefiscale.get_birth_date(code)
    except (ValidationError, ValueError, KeyError):  # stdnum: KeyError on some malformed codes
        return False
    return (encoded.year % 100, encoded.month, encoded.day) == \
        (birth_date.year % 100, birth_date.month, birth_date.day)
