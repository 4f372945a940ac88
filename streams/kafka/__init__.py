"""Adapters to Kafka: topics and their configs, the transport, the partitioner, acknowledgements, dead
letters."""
