"""What `make lint`'s vulture cannot see used: names a framework or a protocol calls by name.

Each line names one such thing and who calls it; anything else vulture reports is code nothing
calls: delete it. (vulture reads this file as code that uses these names.)
"""

# ruff: noqa: B018, F821 - each line only names something, for vulture (`_`: any object)

from alerts.settings import AlertRule, HealthAlertSettings, SmtpSettings
from flows.config.model import Config, Execution, Schedule, Source
from flows.demo.servers import _Handler, _Server
from flows.pipeline.summary import IngestSummary
from storage.health import SourceHealth
from storage.outbox import OutboxState
from storage.stories import StorySummary

# pydantic: model settings and validators, found by their decorators
SmtpSettings.model_config
AlertRule.model_config
HealthAlertSettings.model_config
Config.model_config
SmtpSettings._no_secret_in_file
SmtpSettings._sender_is_address
Schedule._at_least_a_minute
Schedule._cron
Schedule._timezone
Schedule._one_kind
Source._http_url
Source._patterns
Source._known_profile
Source._infer_profile
Config._set_broken_rules_aside
Config._unique_names
Config._health_alerts_need_smtp
Execution._scheduler_address

# the standard library's servers: class settings and handlers called by name
_Server.daemon_threads
_.protocol_version  # BaseHTTPRequestHandler
_.disable_nagle_algorithm  # StreamRequestHandler
_.log_message  # BaseHTTPRequestHandler
_.do_HEAD  # BaseHTTPRequestHandler
_Handler.handle_DATA  # aiosmtpd

# httpcore calls a network backend's methods (scrapers/transport.py)
_.connect_tcp
_.connect_unix_socket

# Datasette calls the reading room plugin's hooks (flows/reading_room/plugins/)
_.prepare_connection
_.render_cell
_.asgi_wrapper
_.filters_from_request
_.handle_exception
_.extra_template_vars

# ruamel.yaml's settings, read by its dumper and loader
_.preserve_quotes
_.default_flow_style
_.sort_base_mapping_type_on_output

# dataclass fields read through asdict() (the summary's JSON, health, the outbox state)
IngestSummary.health_alerts_sent
IngestSummary.outbox
SourceHealth.expected_interval_seconds
OutboxState.pending_emails
OutboxState.pending_matches
OutboxState.digest_queued
OutboxState.digest_pending

# the email templates (alerts/templates/) read these fields by name
_.meta_html
_.snippet_html

# a site profile registers itself on import (scrapers/profiles/base.py: register)
_.LEXISVEILLE

# context managers' __exit__ arguments
_.exc

# storage.stories.StorySummary: a record handed to callers whole (its fields read by name)

StorySummary.first_day
StorySummary.last_day

# smtplib.SMTP.connect calls _get_socket by name (alerts/email.py: the watched connection)
_._get_socket
