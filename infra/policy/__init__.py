"""dr-platform-baseline: a Pulumi CrossGuard policy pack for DR stacks (see docs/policy-pack.md).

``pack.POLICIES`` is the rule list; ``__main__.py`` serves it to the Pulumi CLI;
``offline.run_pack`` evaluates it against a mocked program run without the CLI.
"""
