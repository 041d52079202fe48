"""The workstation wing: what an analyst runs on a laptop or CI box, never shipped to Lambda.

The CLI (``responder``), the moto-backed local runner, the demo and its emulated accounts, the
offline investigation over exported logs, manual starts, recovery and the bucket audit. It imports
the layer (``responder``), the handlers (``lambdas``) and the deployment description
(``deployment``); nothing in those imports it.
"""
