"""Adapters to the outside world, each behind an interface of :mod:`stream_al.io.base`:
Kafka (kafka-python and confluent-kafka), Redis, the in-memory twins (the embedded
default), signed checkpoints and model files. Client libraries' errors are translated
here into :mod:`stream_al.errors` types."""
