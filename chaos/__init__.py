"""Fault injection: the Fukang class played while services are killed, the broker restarts
empty, events arrive twice and out of cross-stream order and malformed messages land on every
topic; then the results are compared with a clean run of the same load (docs/chaos.md)."""
