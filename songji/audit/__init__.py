"""The auditor's tools (``songji audit``): verify every store's hash chain and the topics
against the stores (with the kit's ``shared.audit``), and replay the funding ledger from the
history (``funding_replay``, on ``history`` and ``topic_reader``). Imports nothing, so that the
topic reader's process starts without loading the rest."""
