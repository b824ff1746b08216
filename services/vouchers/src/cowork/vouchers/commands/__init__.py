"""The vouchers use cases, one module per resource: each takes the caller's connection and
writes state, ledger entries and events (outbox) in the caller's transaction.

Every movement of a programme's money first locks the programme's balances row
(`ledger.locked_balances`), then the voucher row: one order everywhere, so concurrent grants,
redemptions, expiries and revocations queue instead of deadlocking, and no commitment can go
above what is available whatever runs at the same time.

The names below are the ones the API and the app read from `commands` itself; everything else
is imported from its module.
"""

from cowork.vouchers.commands.accreditations import accredit, end_accreditation
from cowork.vouchers.commands.applications import application_view, apply
from cowork.vouchers.commands.jobs import JOBS
from cowork.vouchers.commands.ledger import Refused
from cowork.vouchers.commands.programmes import close_programme, open_programme
from cowork.vouchers.commands.statements import issue_statement, render_statement
from cowork.vouchers.commands.undertakings import member_undertaking, undertaking_of_tax_code
from cowork.vouchers.commands.vouchers import declare_partita_iva, revoke, voucher_view

__all__ = ["JOBS", "Refused", "accredit", "application_view", "apply", "close_programme",
           "declare_partita_iva", "end_accreditation", "issue_statement", "member_undertaking",
           "open_programme", "render_statement", "revoke", "undertaking_of_tax_code",
           "voucher_view"]
