"""The evaluation runner, metrics with bootstrap CIs, and the feature cache."""
