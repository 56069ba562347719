"""The science: pure, synchronous, deterministic given a seed; no I/O, no wall clock.

- :mod:`~stream_al.core.learner`: :class:`~stream_al.core.learner.ActiveLearner`, which
  predicts an event, decides whether to ask for its label and learns the labels;
- :mod:`~stream_al.core.budget`, :mod:`~stream_al.core.strategies`,
  :mod:`~stream_al.core.uncertainty`: how much to ask, and which events;
- :mod:`~stream_al.core.drift`, :mod:`~stream_al.core.stopping`: asking harder when the
  world drifts, less when more labels no longer help;
- :mod:`~stream_al.core.models`, :mod:`~stream_al.core.tree_predict`,
  :mod:`~stream_al.core.committee`: the River models, and faster trees;
- :mod:`~stream_al.core.feature_kinds`: what a model can take (a feature keeps the kind
  it was learned as; numbers in range; at most ``max_model_features`` names are learned);
- :mod:`~stream_al.core.density`, :mod:`~stream_al.core.shaping`,
  :mod:`~stream_al.core.explain`: weighting and explaining the scores;
- :mod:`~stream_al.core.routing`: tiers, priority bands and votes of asked items;
- :mod:`~stream_al.core.pool`: ranking a pool and picking a diverse batch;
- :mod:`~stream_al.core.digest`: a canonical digest of a learner's state.

Nothing here imports the rest of the project (``lint-imports`` checks it).
"""
