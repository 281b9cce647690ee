"""ModelPlane: a Kubernetes operator and control plane for serving LLMs with vLLM."""

__version__ = "0.1.0"
