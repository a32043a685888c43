"""Test helpers that do not depend on recovery_lib (reusable by any test suite)."""
