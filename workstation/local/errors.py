"""Named errors of the local runner (mistakes in how the emulated workflow is set up or awaited)."""

from __future__ import annotations

from responder.errors import InvalidInput, ResponderError


class LocalRunnerError(ResponderError):
    """Base of the local runner's own errors."""


class MotoNotConfigured(LocalRunnerError):
    """``mock_aws`` is not active with the config the runner needs (SFN execution, Lambda without Docker)."""


class PlaceholderMismatch(LocalRunnerError):
    """The ASL's ``${...}`` placeholders and the substitutions given differ (missing or unused keys)."""


class ExecutionDidNotFinish(LocalRunnerError):
    """An execution was still RUNNING when the wait timed out (it is stopped before this is raised)."""


class InvalidEventPattern(InvalidInput):
    """An EventBridge pattern that EventBridge itself would reject."""


class InvalidEvent(InvalidInput):
    """An event that is not a full EventBridge event (envelope fields missing)."""
