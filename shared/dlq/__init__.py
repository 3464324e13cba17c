"""The dead letters, for operators: read, show and re-drive them (``letters``; the command is
``songji.dlq.cli``)."""
