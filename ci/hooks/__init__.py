"""The checks a user's repository runs on its own values files (the `triton-stack-values` pre-commit hook)."""
