"""``stream-al serve`` and ``stream-al select``: the label loop (events in, queries out,
labels joined, the train log learned), queue requests, the Service runner on Kafka and
Redis, serve's start-up, and pool selection."""
