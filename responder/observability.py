"""Powertools utilities, created once per process and shared by every handler.

There is no Tracer here, on purpose. Every function runs with X-Ray active tracing
(stacks/constructs/functions.py), so Lambda's service records each invocation's segment (with its
Initialization, Invocation and Overhead) and Step Functions links it into the execution's trace: no
SDK in the function is needed for that. Powertools' ``Tracer`` would add a handler subsegment, a
ColdStart annotation and, by patching botocore, a subsegment per AWS call; but creating it imports
``aws_xray_sdk`` and, in Lambda, patches botocore, requests and http.client: about 80 ms of every
cold start there, a third of a bare ``import boto3`` (outside Lambda its recorder also builds an
X-Ray client: about 250 ms; docs/performance.md), the containment step's included, where the time
until the key is Inactive is the point. A step that needs subsegments of its own may build a
``Tracer(service=SERVICE)`` in its handler module and pay for it there; tests/lambdas/test_imports.py
keeps the SDK out of every handler's import until someone decides that.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from responder.models import Action, Incident
from responder.redact import RedactingFilter
from responder.timing import time_to_contain

SERVICE = "responder"
NAMESPACE = "IncidentResponder"

logger = Logger(service=SERVICE)
# Belt and braces: handlers log chosen keys only, and any secret-shaped value is still redacted.
logger.addFilter(RedactingFilter())
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def record_time_to_contain(incident: Incident, actions: Sequence[Action]) -> float | None:
    """The ``TimeToContain`` metric (seconds from the signal's creation to the key contained), from
    the step that contained it: Triage or Disable for a user's key, RevokeSessions for a session's."""
    timing = time_to_contain(incident, actions)
    seconds = timing["seconds"] if timing else None
    if seconds is not None:
        metrics.add_metric(name="TimeToContain", unit=MetricUnit.Seconds, value=seconds)
    return seconds
