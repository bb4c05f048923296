"""swipe: gesture-keyboard decoders on Ray."""
