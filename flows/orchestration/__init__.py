"""Prefect around the plain run: the `ingest` and `digest` flows, their schedules and
deployments, the Prefect server newswatch starts or uses, events and the webhook automation,
the artifacts a run publishes. Nothing here imports Prefect at module level but the flows."""
