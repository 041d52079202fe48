"""Powertools utilities, created once per process and shared by every handler."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

from responder.redact import RedactingFilter

SERVICE = "responder"
NAMESPACE = "IncidentResponder"

logger = Logger(service=SERVICE)
# Belt and braces: handlers log chosen keys only, and any secret-shaped value is still redacted.
logger.addFilter(RedactingFilter())
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
