"""Models: the ECAMP pre-training model, the Backbone interface used by every task, weight files."""
