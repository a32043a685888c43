"""checkov's rules on the Pulumi program: the program run under mocks, as a Terraform plan.

See docs/scan.md. ``python -m infra.scan`` scans both stacks and checks the findings against
``infra/scan/exceptions.yaml``.
"""
