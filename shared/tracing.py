"""Traces (OpenTelemetry): on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, off otherwise.

Off, nothing is instrumented and every hook here is one check of a module variable: no span,
no context, nothing added to an event (``bench/tracing_off.py`` measures it). On, a command's
HTTP span (the FastAPI instrumentation), its append, the relay's publish, each consumer's
apply and funding's derivation form one trace:

- the append records the current trace context in the event's metadata (``traceparent``,
  ``tracestate``), beside its correlation id, in the same transaction: the relay publishes
  later, from another task, and must know which trace the event belongs to;
- the relay publishes it as the CloudEvents distributed-tracing extension, ``ce_traceparent``
  and ``ce_tracestate`` (the Kafka binding's ``ce_`` prefix): the event's origin, signed with
  the rest of its ``ce_*`` attributes, as unchangeable as its correlation id; and, around the
  send, a span of its own whose context the aiokafka instrumentation writes to the plain
  ``traceparent``/``tracestate`` headers: the hop, which is not signed (not ``ce_*``), so any
  hop may rewrite it, as the extension's specification expects of transport headers;
- a consumer's apply continues the hop's context (the origin's when there is no hop header).

Only the W3C trace context travels: no baggage, nothing personal.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACE_FIELDS = ("traceparent", "tracestate")

_PROPAGATOR = TraceContextTextMapPropagator()
_provider: Any = None  # the SDK's TracerProvider while tracing is on; None: off
_tracer: trace.Tracer | None = None


def enabled() -> bool:
    return _tracer is not None


def configure(service: str) -> None:
    """Turn tracing on for this process, exporting over OTLP (HTTP/protobuf; the standard
    ``OTEL_EXPORTER_OTLP_*`` variables configure it), when the endpoint variable is set."""
    if _provider is not None or not os.environ.get(ENDPOINT_VARIABLE):
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"songji-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    enable(provider)


def enable(provider: Any) -> None:
    """Trace into ``provider`` (an SDK ``TracerProvider``): asyncpg and aiokafka are
    instrumented process-wide, apps as they are made (``instrument_app``)."""
    global _provider, _tracer
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    if _provider is None:
        AsyncPGInstrumentor().instrument(tracer_provider=provider)
        AIOKafkaInstrumentor().instrument(tracer_provider=provider)
    _provider = provider
    _tracer = provider.get_tracer("songji")


def disable() -> None:
    """Tracing off again (tests): the process-wide instrumentations are removed."""
    global _provider, _tracer
    if _provider is None:
        return
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    AsyncPGInstrumentor().uninstrument()
    AIOKafkaInstrumentor().uninstrument()
    _provider, _tracer = None, None


def instrument_app(app: Any) -> None:
    """HTTP spans for every route of ``app`` but the probes and the metrics."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=_provider,
                                       excluded_urls="health,ready,metrics")


_NOTHING: AbstractContextManager[Any] = contextlib.nullcontext()


def span(name: str, *, parent: Context | None = None,
         attributes: Mapping[str, str | int] | None = None) -> AbstractContextManager[Any]:
    """A span around the block, child of ``parent`` if given, else of the current span;
    when tracing is off, one shared context manager that does nothing."""
    if _tracer is None:
        return _NOTHING
    return _tracer.start_as_current_span(name, context=parent, attributes=attributes)


def current_fields() -> dict[str, str]:
    """The current span's W3C trace context (``traceparent``, ``tracestate``), or nothing."""
    if _tracer is None:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return {k: v for k, v in carrier.items() if k in TRACE_FIELDS}


def context_of(fields: Mapping[str, str]) -> Context | None:
    """The trace context written in ``fields`` (``traceparent``/``tracestate``), or None."""
    if _tracer is None or "traceparent" not in fields:
        return None
    return _PROPAGATOR.extract({k: fields[k] for k in TRACE_FIELDS if k in fields})
