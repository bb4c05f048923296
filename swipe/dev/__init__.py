"""Maintainer tools (`swipe dev …`): tuning decoders on half of the dev people, fitting the generators, shipping models, ensembles and the results pages. Not on the user path."""
