"""Shared domain code of the incident responder.

The same import path serves the Lambda functions (shipped as a layer under ``python/responder``),
the local runner, the tests and the ``responder`` command.
"""

__version__ = "0.1.0"
