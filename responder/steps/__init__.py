"""The workflow's steps, one module each: the service code behind ``lambdas/<name>/handler.py``.

A step carries one name from end to end: the ASL state (``PlanQueries``), the handler folder
(``lambdas/plan_queries``), this package's module (``responder/steps/plan_queries.py``) and the
placeholder of its function's ARN (``${PlanQueriesFunctionArn}``); ``lambdas/steps.py`` derives the
others from the name. Handlers parse their input, take clients and settings, and call the function
here. What several steps share lives below this package (evidence, actions, live reads, analysis,
queries, remediation); a step calls another step's function only where it runs that step's work
(Triage's fast path validates and disables; NotifyFailure delivers as Notify does).
"""
