"""Analyzing ingested documents: the Kafka handler, the pipeline, and the MongoDB writes."""
