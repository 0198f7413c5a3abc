"""Entry points, by role: what runs newswatch, not what it does to pages (scrapers, storage, alerts).

- `cli/`: the `newswatch` command line: the parser (`main`), one module per command, the
  options and helpers they share (`shared`);
- `config/`: the configuration's typed tree (`model`), reading it (`loader`), editing it (`editor`);
- `pipeline/`: the ingest run as plain code: URL claims, the runner, the stages, the
  per-source driver, the run (`ingest`), its end, streaming, recheck, the summary;
- `orchestration/`: Prefect around it: the flows, schedules, deployments, the Prefect server,
  events and the webhook automation, artifacts;
- `demo/`: the local HTTP site and SMTP server the demo, the tests and the benches share;
- `reading_room/`: the archive in Datasette.
"""
