"""The local cluster: a real Kubernetes control plane built from Go modules,
KWOK for simulated GPU nodes and one node whose pods run as local processes.

Everything listens on loopback; state lives under ``.localcluster/`` in the
checkout and built binaries in a cache outside it.
"""
