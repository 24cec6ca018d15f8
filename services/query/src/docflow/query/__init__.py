"""docflow's query service: documents, lists and counts served from MongoDB through Redis."""
