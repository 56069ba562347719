"""Benchmarks run by ``stream-al bench``: each reports ratios against a baseline measured in
the same process and the same run (``engine``: the learner against a bare River loop;
``throughput``: ``serve`` on real Kafka and Redis against a raw kafka-python loop)."""
