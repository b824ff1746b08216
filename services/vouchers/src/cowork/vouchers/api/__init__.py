"""HTTP API v1 of the vouchers service (docs/api/vouchers.md): one router per OpenAPI tag.
Officers (the municipality's staff) run programmes, read the ledger and issue statements;
members apply and see only their own applications and vouchers."""

from cowork.vouchers.api import (
    accredited_spaces,
    applications,
    audit,
    ledger,
    programmes,
    statements,
    transparency,
    vouchers,
)

ROUTERS = [programmes.router, ledger.router, applications.router, vouchers.router,
           statements.router, transparency.router, accredited_spaces.router, audit.router]
