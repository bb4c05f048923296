"""The model: point features, the encoder-decoder transformer, its inputs and its checkpoints."""
