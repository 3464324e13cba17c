"""Songji's tools, built on the kit (``shared``) and the services (``services``): the ``songji``
command (``cli``), the demo, the launcher of the five services and the auditor's replay.

Neither the kit nor the services import this package (``tests/unit/test_layering.py``)."""
