"""Process plumbing shared by every long-running command: backoff, signals, logging, the
health endpoint, the Prometheus metrics and terminal progress."""
