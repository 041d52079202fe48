"""What a deployment is, in plain Python: the validated ``cdk.json`` settings and the event patterns.

The CDK app (``stacks``) builds these into a template; the local runner (``workstation.local``)
emulates the same deployment from them. Importing this package never starts the CDK's jsii runtime.
"""
