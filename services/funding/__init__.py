"""Funding: policy, budget, the ledger derived from the event log, and disbursement."""
