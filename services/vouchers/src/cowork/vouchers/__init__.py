"""Cowork vouchers: municipal subsidy programmes, vouchers and their double-entry ledger."""
