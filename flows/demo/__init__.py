"""The demo's local world: an HTTP server with scripted routes or a directory of files (`servers`),
an SMTP server that keeps what it receives, and the bundled site (`site/`). `newswatch demo`,
the tests and the benches all use them."""
