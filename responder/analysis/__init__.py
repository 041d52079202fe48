"""From the activity rows of an exposed key to the sections of the report.

Each module is a handful of pure functions over rows (the row contract in docs/architecture.md):
``rows`` (contract, readers), ``ips``, ``tactics``, ``inventory``, ``buckets``, ``exfil``,
``credentials`` and ``attribution``. ``responder.report`` puts them together.
"""
