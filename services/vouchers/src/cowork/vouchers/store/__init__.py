"""Every SQL statement of the vouchers service, one module per resource; functions take the
caller's connection, so the caller owns the transaction (and the outbox row written beside
each change). The names below are the ones the API reads from `store` itself; everything
else is imported from its module."""

from cowork.vouchers.store.accreditations import accreditations_page
from cowork.vouchers.store.applications import application_by_id, applications_page
from cowork.vouchers.store.grants import de_minimis_grants_of, grants_by_beneficiary
from cowork.vouchers.store.ledger import ledger_page
from cowork.vouchers.store.programmes import programme_by_id, programmes_page
from cowork.vouchers.store.replicas import desks_of
from cowork.vouchers.store.statements import issued_statement
from cowork.vouchers.store.vouchers import voucher_by_id, vouchers_page

__all__ = ["accreditations_page", "application_by_id", "applications_page",
           "de_minimis_grants_of", "desks_of", "grants_by_beneficiary", "issued_statement",
           "ledger_page", "programme_by_id", "programmes_page", "voucher_by_id",
           "vouchers_page"]
