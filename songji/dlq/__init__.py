"""``songji dlq``: list, show and re-drive the dead letters and the relay's quarantine (the
library is ``shared.dlq.letters`` and ``shared.eventsourcing.quarantine``)."""
