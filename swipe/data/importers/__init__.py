"""Importers: one module per raw format, each turning its files into validated SwipeBatches."""
