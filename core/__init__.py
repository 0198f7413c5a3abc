"""What every layer shares, beside `errors`: small, dependency-light, no newswatch imports but `errors`.

- `article`: the plain data a cleaned page is (`Article`, `Contact`, `PageMetadata`, `Removal`):
  scrapers make it, storage stores it, alerts match it.
- `urls`: URL identity, one canonicaliser (`canonical_url`, `url_key`, `UrlPolicy`), links
  made absolute (`resolve`), the unit of host state (`host_key`).
- `text`: page text made inert before it is stored, indexed, emailed or shown.
- `files`: files replaced in one step (feeds, the config).
- `ports`: a free TCP port on 127.0.0.1.

`scrapers`, `storage`, `alerts` and `flows` may all import it (tests/test_layers.py).
"""
