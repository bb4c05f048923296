"""Evaluation: batch prediction on a Ray actor pool, metrics, reports, ensembles, the prediction table."""
