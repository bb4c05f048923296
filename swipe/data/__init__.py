"""Datasets: swipes as flat arrays, synthesis, importers, validation, Parquet shards and manifests, realism."""
