"""Providers behind one interface (`base.py`): `local` (embedded, offline) and `openai` (any
compatible API, its machinery in `openai/`), built by `factory.py`; what every provider is
handed (`inputs.py`, `tokens.py`) and the one retry policy (`retry.py`).

Nothing here imports the service layer (`analyses/`, `deps.py`, `main.py`)."""
