"""The result relay (profile `current`): topic to SQS to the API, as iac's
Lambda does."""
