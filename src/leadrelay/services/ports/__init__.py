"""The ports the services talk to. Implementations live in ``leadrelay.adapters``.

A use case runs its reads and writes in one transaction through a ``Storage`` (the unit of work): it
passes a function of a ``Tx``, whose attributes are the repositories. The SQL behind them lives in
``leadrelay.adapters.db``; the unit tests pass in-memory fakes. Time and new ids come from an injected
``Clock`` and ``IdSource``.

The modules, by what they hold (import from here: ``from leadrelay.services.ports import Tx``):

- ``storage``: the unit of work (``Storage``, ``Tx`` and its ``Savepoint``), group commits, ``OldPages``;
- ``repositories``: one repository per stored concept (leads, jobs, caps, deliveries, configuration,
  credentials, dedup marks, suppression lists);
- ``batches``: the batch files' repository and reads;
- ``alerts``: the alert rules' states and messages, and their transport (``AlertTransport``);
- ``postbacks``: what buyers reported (and the outcomes report), the events relayed to sources;
- ``queries``: the query objects of single use cases (deferred writes, the log, holds, erasure);
- ``channels``: the transports (``Channel``, ``FileSender``);
- ``keys``: the key ring and the dedup key;
- ``ledger``: the money ledger's entries; ``wallets``: budgets and wallets (money held by routed leads);
  ``returns``: partners' returns of leads; ``invoices``: invoices and statements made of entries;
- ``reports``: the reports' hourly facts and their rollup;
- ``lead_imports``: the console's CSV lead imports (their progress, a file posted twice);
- ``users``: console users, invitations, sessions, failed logins; ``Passwords`` (their hashes);
- ``dashboard``: the queue's depth for the console's dashboard (``DashboardQueries``, ``QueueDepth``);
- ``clock``: time and new ids; ``records``: what the repositories return;
- ``metrics``: what is counted for ``/metrics`` (``Metrics``; ``NO_METRICS`` counts nothing);
- ``wakeups``: word between the processes of one installation (``WakeRelay``).
"""

from leadrelay.services.ports.alerts import Alerts, AlertTransport, Sent
from leadrelay.services.ports.batches import Batches, BatchQueries
from leadrelay.services.ports.channels import Channel, FileSender
from leadrelay.services.ports.clock import (
    Clock,
    IdSource,
    RandomSource,
    system_clock,
    system_ids,
    system_random,
)
from leadrelay.services.ports.dashboard import DashboardQueries, QueueDepth
from leadrelay.services.ports.form_posts import FormPosts
from leadrelay.services.ports.invoices import Invoices
from leadrelay.services.ports.keys import DedupKeys, Ring, Sealer
from leadrelay.services.ports.lead_imports import LeadImports
from leadrelay.services.ports.lead_pages import LeadPageQueries
from leadrelay.services.ports.ledger import Ledger, SaleFacts
from leadrelay.services.ports.metrics import NO_METRICS, STEPS, Metrics, timed_step
from leadrelay.services.ports.portals import PortalQueries
from leadrelay.services.ports.postbacks import OutcomeTotal, Postbacks, Relays, ReportBy
from leadrelay.services.ports.queries import (
    DeferredWrites,
    Erasure,
    HoldQueries,
    LogQueries,
    SimulationReads,
    SuppressionListNames,
)
from leadrelay.services.ports.records import LeadOutcome, Objects, Record
from leadrelay.services.ports.reports import ReportFacts
from leadrelay.services.ports.repositories import (
    Caps,
    ConfigObjects,
    Credentials,
    DedupMarks,
    Deliveries,
    Jobs,
    Leads,
    SuppressionLists,
)
from leadrelay.services.ports.returns import ReturnableDelivery, ReturnRecord, Returns
from leadrelay.services.ports.storage import GroupCommit, GroupCommits, OldPages, Savepoint, Storage, Tx
from leadrelay.services.ports.users import Passwords, Users
from leadrelay.services.ports.wakeups import WakeRelay
from leadrelay.services.ports.wallets import Wallets

__all__ = [
    "NO_METRICS",
    "STEPS",
    "AlertTransport",
    "Alerts",
    "BatchQueries",
    "Batches",
    "Caps",
    "Channel",
    "Clock",
    "ConfigObjects",
    "Credentials",
    "DashboardQueries",
    "DedupKeys",
    "DedupMarks",
    "DeferredWrites",
    "Deliveries",
    "Erasure",
    "FileSender",
    "FormPosts",
    "GroupCommit",
    "GroupCommits",
    "HoldQueries",
    "IdSource",
    "Invoices",
    "Jobs",
    "LeadImports",
    "LeadOutcome",
    "LeadPageQueries",
    "Leads",
    "Ledger",
    "LogQueries",
    "Metrics",
    "Objects",
    "OldPages",
    "OutcomeTotal",
    "Passwords",
    "PortalQueries",
    "Postbacks",
    "QueueDepth",
    "RandomSource",
    "Record",
    "Relays",
    "ReportBy",
    "ReportFacts",
    "ReturnRecord",
    "ReturnableDelivery",
    "Returns",
    "Ring",
    "SaleFacts",
    "Savepoint",
    "Sealer",
    "Sent",
    "SimulationReads",
    "Storage",
    "SuppressionListNames",
    "SuppressionLists",
    "Tx",
    "Users",
    "WakeRelay",
    "Wallets",
    "system_clock",
    "system_ids",
    "system_random",
    "timed_step",
]
