"""The soak: the three services under mixed traffic at half their measured capacity for
SOAK_DURATION, sampled every SOAK_SAMPLE_S (`make soak`; `python -m tests.soak --help`)."""
