"""The fault drill: `make chaos` (full) and its short version in `make test` (test_chaos.py)."""
