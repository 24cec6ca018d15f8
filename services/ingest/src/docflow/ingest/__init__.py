"""docflow's ingest service: the front door for REST clients and upstream Kafka producers."""
