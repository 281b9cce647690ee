"""All API I/O of the operator: one lightkube AsyncClient, one field manager."""
