"""Documents from upstream systems on the Kafka topic `documents.incoming`."""
