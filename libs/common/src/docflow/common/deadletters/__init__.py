"""Dead letters on `documents.dlq`: read them, pick some, replay them (`docflow-dlq`)."""
