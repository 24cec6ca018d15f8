"""`python -m tests.soak`: see tests/soak/soak.py."""

import locust  # noqa: F401 (first: Locust monkey-patches for gevent before any connection)

from tests.soak.soak import main

raise SystemExit(main())
