"""Where events and labeled histories come from: streams (``csv:``, ``river:``,
``synth:``), pools for ``stream-al select``, warm-start histories, and ``stream-al produce``,
which replays a stream into Kafka."""
