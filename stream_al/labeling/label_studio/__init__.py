"""The Label Studio bridge: queued items become Label Studio tasks, annotations become
labels (:mod:`~stream_al.labeling.label_studio.bridge`), over Label Studio's REST API
(:mod:`~stream_al.labeling.label_studio.api`)."""
