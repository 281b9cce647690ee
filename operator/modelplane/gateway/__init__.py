"""The OpenAI-compatible gateway: one endpoint for every ModelService in scope."""
