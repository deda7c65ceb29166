"""Prometheus metrics, process-wide (one registry, exported at /metrics)."""

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter("doorstep_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram("doorstep_http_request_seconds", "HTTP request latency", ["method", "route"])
INBOUND_EVENTS = Counter("doorstep_inbound_events_total", "Inbound payloads by outcome", ["source", "status"])
UNKNOWN_CODES = Counter(
    "doorstep_tracking_unknown_codes_total", "Provider status codes with no mapping", ["source", "code"]
)
