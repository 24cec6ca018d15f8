"""The OpenAI provider (`provider.py`) and the OpenAI Batch API client (`batch_api.py`), with
what only they use: request packing, the prompt, the rate limiter and answer parsing."""
