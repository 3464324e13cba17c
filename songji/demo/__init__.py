"""The article's Fukang class, played end to end through the public APIs (``songji demo``,
``songji run``, ``make run``): ``scenario`` (the data, from a seed), ``client`` (the
departments' HTTP calls, retried while another service catches up), ``steps`` (the
programme), ``summary`` (what is printed), ``runner`` (all of it, and the auditor)."""
