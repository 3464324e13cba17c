"""The real servers Songji runs on, embedded by default: PostgreSQL and a Kafka-protocol broker."""
