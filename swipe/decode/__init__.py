"""Decoders: search over the model (greedy, beam, lexicon beam) and the further decoders built on it."""
