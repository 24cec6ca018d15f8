"""docflow's analysis service: documents.ingested in, analyses and documents.analyzed out."""
