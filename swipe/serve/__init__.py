"""Decode online: the service behind Ray Serve, its users' own words, the browser demo, a load test."""
