"""Named errors. The state machine retries and catches them by class name (Lambda's errorType).

Transient errors derive from ``TransientError``; the ASL retries ``Throttled`` by name (with
backoff), on top of the SDK's own retries. Everything else ends in a Catch that tells the SOC.
"""

from __future__ import annotations

from botocore.exceptions import ClientError


class ResponderError(Exception):
    """Base of every error the responder raises on purpose."""


class TransientError(ResponderError):
    """Worth retrying: the ASL retries these by name."""


class InvalidInput(ResponderError):
    """The execution input or CLI argument is not something we can act on. Nothing was changed."""


class UnsupportedFinding(InvalidInput):
    """A well-formed finding of a type this responder does not handle."""


class AccessKeyNotFound(ResponderError):
    """The key does not exist (any more) in this account."""


class ForeignAccessKey(ResponderError):
    """STS GetAccessKeyInfo says the key belongs to another account: notify only."""


class ContainmentFailed(ResponderError):
    """An AWS call that changes state failed; the message says what was and was not done."""


class ContainmentUnverified(ContainmentFailed):
    """The change call succeeded but reading it back (retried while IAM propagates) does not show it."""


class ContainmentInProgress(TransientError):
    """Another live attempt holds the key's claim and the key still reads Active: retried by the ASL."""


class PrincipalMismatch(ResponderError):
    """The principal the input names is not the one the live account shows (possible tampering)."""


class RevocationShapeRefused(ResponderError):
    """A session revocation was asked to write a document that is not the fixed TokenIssueTime deny."""


class EvidenceConflict(ResponderError):
    """An evidence object already exists with different content: evidence is never overwritten."""


class QueryFailed(ResponderError):
    """A CloudTrail query ended FAILED (or could not be started)."""


class QueryCancelled(QueryFailed):
    """A CloudTrail query was CANCELLED."""


class QueryTimedOut(QueryFailed):
    """A CloudTrail query ended TIMED_OUT."""


class QueryStillRunning(TransientError):
    """Results were asked for before the query finished."""


class LogsUnreadable(InvalidInput):
    """Local CloudTrail log files could not be read or parsed."""


class DigestKeysUnreadable(InvalidInput):
    """The CloudTrail public keys given for digest validation (--digest-public-keys) cannot be read."""


class Throttled(TransientError):
    """AWS throttled a call past the SDK's own retries; the state machine retries with backoff."""


class InvalidQueryParameter(InvalidInput):
    """A query parameter (access key id, window, table or store name) failed validation; no engine saw it."""


class UnknownQuery(InvalidInput):
    """No saved query has that name."""


class ReportInvalid(ResponderError):
    """Our own report failed report.schema.json: a bug in the responder, never in the input."""


class IncidentNotFound(InvalidInput):
    """The incident table holds no recorded action for that incident id: nothing to recover."""


# responder recover --only/--target/--except: a selection that cannot be carried out as asked.
class UnknownSelector(InvalidInput):
    """``--only``, ``--except`` or ``--target`` names no recorded change of the incident. Nothing changed."""


class AmbiguousSelector(InvalidInput):
    """A short id names two recorded changes of the incident (their sort keys do not). Nothing changed."""


class ConflictingSelection(InvalidInput):
    """One change named both by ``--only`` and by ``--except``. Nothing changed."""


class SelectionBreaksOrder(InvalidInput):
    """The selection undoes a change but leaves a newer change to the same state. Nothing changed."""


class EradicationNotApproved(ResponderError):
    """Eradication (deleting rogue resources) was asked for without a matching approval. Nothing deleted.

    The message lists the plan, what an approved run would delete; ``plan`` carries it as data.
    """

    def __init__(self, message: str, plan: object = None) -> None:
        super().__init__(message)
        self.plan = plan


class RedactionKeyUnavailable(ResponderError):
    """The deployment's redaction key (REDACTION_KEY_SECRET_ARN) cannot be read or is too short."""


# IAM/STS "Throttling", DynamoDB "ThrottlingException"/"ProvisionedThroughputExceededException",
# S3 "SlowDown", SNS "Throttled": each service names it differently; all are worth a retry.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "Throttled",
    }
)


def _error_field(exc: BaseException, field: str) -> str:
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    return str(error.get(field) or "") if isinstance(error, dict) else ""


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` ("" for anything else, or none given)."""
    return _error_field(exc, "Code")


def error_message(exc: BaseException) -> str:
    """The AWS error message of a botocore ``ClientError`` ("" for anything else, or none given)."""
    return _error_field(exc, "Message")


def failure(exc: ClientError, message: str) -> ResponderError:
    """Throttled (retried by the ASL) or ContainmentFailed, the AWS error code and ``message`` in it."""
    code = error_code(exc)
    cls = Throttled if code in THROTTLING_CODES else ContainmentFailed
    return cls(f"{exc.operation_name} {code or 'failed'}: {message}")
