"""The control loop: a watch-fed cache, a work queue, and workers that run
the one reconcile function for every trigger (the ModelService itself, its
children's events, and a periodic resync)."""
