"""Talking to the AWS endpoint: boto3 clients, the local-endpoint guard, listings, batches."""
