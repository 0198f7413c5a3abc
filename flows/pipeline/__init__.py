"""The ingest run as plain code, no Prefect: `ingest.ingest_run(config)` is the whole run."""
