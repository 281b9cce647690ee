"""User commands that talk to the API (`modelplane rollout ...`)."""
