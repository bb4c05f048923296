"""Ray itself: starting or joining it, a local cluster of its own for job submission, the private-API shim."""
