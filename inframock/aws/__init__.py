"""Talking to the AWS endpoint: clients, the local-endpoint guard, listings, batches."""
