"""The SQLite archive: every table and every SQL statement of newswatch.

- `db`: the handle (`Database`: connection, path, `transaction()`), the archive's clock
  format (`utc_iso`) and the dead-holder check (`holder_gone`) the other modules share.
- `schema`: the ordered forward migrations and the version checks; `migrations`: every
  table's DDL, one step per version.
- `archive`: the handle of an archive file (`Archive.open`, `Archive.reopen`); articles in
  (`archive_writes`), deduplicated (`dedup`), and read (`archive_reads`), searchable (`query`
  parses the search language, `query_lexer` its tokens, `query_fts` compiles it to FTS5);
  `records`: what it takes and gives; `reading`: the read-only queries of feeds and the
  reading room; `learned_templates`: the pages each source's learned template is counted from.
- `stories`: the stories read, explained, split and merged; `story_decision`: the facts index
  and the rule (`facts` reads the facts); `story_assignment`: each new article into its story.
- `fetchstate`: what ingestion remembers between runs (validators, failing pages, source runs,
  leases); `health`: source health, and which health problems were emailed.
- `outbox`: alert matches waiting for their email, claims, sent emails.

Other packages call these named functions with the archive handle (the `Archive` handle's own
methods for articles); none writes SQL. Storage imports no other newswatch package but `core`
and `errors`: an incoming article is a `core.article.Article`.

sqlite-utils or plain sqlite3: sqlite-utils where it fits, that is schema work and writes that
stand alone: the FTS5 table and its triggers (`enable_fts`, migration 1; migration 19 makes the
table again, in SQL, with prefix indexes), introspection
(`table.exists()`, `table.count`), a single insert outside any transaction
(`fetchstate.record_run`). Plain sqlite3 everywhere a write is part of a transaction (storing a
batch with its outbox rows, claims, leases, migrations): sqlite-utils' write methods commit
whatever transaction is open (measured: `Table.insert` inside `BEGIN IMMEDIATE` leaves the
connection out of the transaction), which would split a batch from its alerts; and on the
hot path (dedup lookups and inserts per article) prepared statements through the connection
avoid sqlite-utils' per-call table introspection.
"""
