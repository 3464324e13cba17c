"""The kit's checks for the auditor, knowing no service: every store's hash chain
(``verify``) and what the topics hold against the stores (``published``). The auditor's
command and the funding replay are in ``songji.audit``."""
