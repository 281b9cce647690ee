"""The runtime launcher: fetch a model into a shared cache, then exec the vLLM server.

Runs inside the runtime image (and the prefetch Job), never in the operator:
it imports nothing from the controller, handlers or k8s layers.
"""
