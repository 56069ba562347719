"""Measuring label efficiency offline: prequential (test-then-train) evaluation against
random sampling and full labels, the worth of a warm start, the embedded demo and its
learning-curve plots."""
