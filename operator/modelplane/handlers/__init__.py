"""kopf wiring: the only place that imports kopf. Every handler only feeds the
controller's cache and queue; the one reconcile function lives in
modelplane.controller."""
