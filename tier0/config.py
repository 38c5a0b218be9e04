"""One settings object for the whole product.

Every knob is an environment variable prefixed ``TIER0_`` (``TIER0_HOME``, ``TIER0_DATABASE_URL`` ...).
Built lazily by :func:`get_settings` so importing a module never reads the environment.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

from pydantic import BaseSettings, validator

from tier0.vocab import MAX_REQUEST_BYTES

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EMBEDDING_MODELS = "all-mpnet-base-v2,multilingual-e5-small"
# Universal Sentence Encoder multilingual: ranks worse than the pair above, but helps the article classifier tell the
# sample KB's French articles apart (bench/RESULTS.md).
DEFAULT_CLASSIFIER_EXTRA_MODELS = "use-multilingual-v3"


class Settings(BaseSettings):
    # Where runtime state lives: the SQLite file, the FAISS index, trained Rasa models.
    home: Path = REPO_ROOT / "var"
    # SQLAlchemy URL; default is a SQLite file inside ``home``.
    database_url: Optional[str] = None
    # Folder of Markdown articles imported at first start when the KB is empty.
    sample_kb: Path = REPO_ROOT / "data" / "sample_kb"
    # Embedding models, comma-separated: names from retrieval.embedder.model_names() or local folders. The search
    # uses every one (features per model); the default pairs English all-mpnet-base-v2 with multilingual E5
    # (bench/RESULTS.md).
    embedding_model: str = DEFAULT_EMBEDDING_MODELS
    # Models the article classifier may read besides the search's, comma-separated; each KB's calibration keeps them
    # only if they help on its own phrasings (retrieval.calibration.classifier_inputs). Empty: none.
    classifier_extra_models: str = DEFAULT_CLASSIFIER_EXTRA_MODELS
    # The operator's target: at most this share of the bot's answers may be wrong. The answer threshold follows
    # from it through the calibration curve, per language (retrieval.calibration).
    target_wrong_rate: float = 0.03
    # The share of customers' questions the KB is assumed not to answer, which the threshold allows for: 0.5 (the
    # default, cautious) counts as many uncovered questions as covered ones; lower it when most of your traffic is
    # in scope (bench/RESULTS.md measures what it does).
    out_of_kb_share: float = 0.5
    # Learn that share from the customers' own questions once 200 exist (never below 0.25; retrieval.calibration),
    # refitting every 200 new ones; false keeps the value above.
    learn_out_of_kb_share: bool = True
    # How often (seconds) the server checks for new labelled answers (customers' yes / "that didn't help", agents'
    # wrong-answer flags) and refits the calibration once enough arrived; 0 = only at start-up and on KB changes.
    calibration_interval: float = 600.0
    # Used only when the KB is too small to calibrate: threshold on the uncalibrated fused score.
    answer_threshold: float = 0.75
    clarify_margin: float = 0.04
    # The desk: queues, opening hours, members, escalation matrix, SLA targets, webhooks (YAML the operator edits).
    desk_config: Path = REPO_ROOT / "data" / "desk.yml"
    # How often the SLA scheduler checks open tickets (seconds); 0 turns the background scheduler off.
    sla_interval: float = 30.0
    # Agent sign-in sessions last this long (hours, sliding while used).
    session_hours: float = 12.0
    # Shared secret of the inbound e-mail webhook (POST /api/inbound/email); unset = the endpoint is disabled.
    inbound_email_secret: Optional[str] = None
    # Company name shown in bot messages.
    company_name: str = "Nuvola"
    # Redis, for several workers (``tier0 serve --workers N``, or several machines): Rasa's conversation trackers
    # and turn locks, and the live events (agent replies, ticket changes) that cross workers. Unset: one worker.
    redis_url: Optional[str] = None
    # Where Rasa keeps each conversation's tracker: "sql" (this database, Rasa's ``events`` table) or "redis" (with
    # TIER0_REDIS_URL), both expiring TIER0_TRACKER_TTL_S after a conversation's last turn (Redis by itself, SQL by
    # the hourly background job, bot.privacy.expire_sql_trackers), or "memory" (one worker only; lost on restart).
    # Default: redis when TIER0_REDIS_URL is set, else sql.
    tracker_store: Optional[str] = None
    tracker_ttl_s: int = 7 * 24 * 3600
    # Customer turns a worker runs at once, each on its own thread (off the event loop).
    turn_threads: int = 4
    # Worker processes of ``tier0 serve`` (more than 1 needs PostgreSQL and TIER0_REDIS_URL).
    workers: int = 1
    host: str = "127.0.0.1"
    port: int = 8000
    torch_threads: int = 1
    # Single-query vectors remembered per embedding model. A turn is embedded once for both the intent classifier
    # and the search, and a message many customers send ("hi", "thanks") once in a while; 0 = remember none.
    query_cache: int = 64
    # Optional overrides of where trained Rasa models and the vector index live (default: inside ``home``).
    model_cache: Optional[Path] = None
    index_cache: Optional[Path] = None

    # -- safe on the internet (#21); docs/security.md says what each setting protects -----------------------------
    # identity: signed customer attributes, inbound e-mail reply tokens
    # The site's secret for signed customer identities (tier0.identity): a page's customer.signature is checked
    # against it (wrong: 403); only signed e-mail, tier and id count. Unset (the default): every identity is unverified.
    identity_secret: Optional[str] = None
    # Where customers reply by e-mail: an address with "{token}" for the ticket's reply token, e.g.
    # "support+{token}@example.com" (plus addressing); shown on tickets and webhooks as reply_to. Default: unset.
    reply_address: Optional[str] = None

    @validator("reply_address")
    def _reply_address(cls, v: Optional[str]) -> Optional[str]:  # noqa: N805
        if v is not None and (v.count("{token}") != 1 or "@" not in v.replace("{token}", "")):
            raise ValueError('reply_address must be an e-mail address with "{token}" once, e.g. '
                             '"support+{token}@example.com"')
        return v

    # limits: rate limits, login throttling, security headers, OpenAPI docs
    # Rates are in the `limits` notation, "N/period" joined by ";" (e.g. "20/minute;300/hour"; periods: second,
    # minute, hour, day, or "15 minutes"); empty = no limit. Over a limit: 429 with Retry-After (api.limits).
    # Conversations one client IP may open (several customers may share an IP behind a carrier's NAT).
    limit_conversations_per_ip: str = "20/minute;300/hour"
    # Messages one conversation may send (counted once accepted), and all the conversations of one IP together.
    limit_messages_per_conversation: str = "15/minute;300/hour"
    limit_messages_per_ip: str = "60/minute;1000/hour"
    # Event streams open at once (a cap, not a rate): per conversation (a few tabs), per client IP.
    max_streams_per_conversation: int = 3
    max_streams_per_ip: int = 20
    # Desk sign-in throttling (api.limits.LoginThrottle). Failures of one account from one IP: after
    # login_lockout_after of them that pair is refused for login_lockout_s seconds, doubling with each further
    # failure, at most login_lockout_max_s; a success from that IP clears the pair; forgotten a day after its last
    # failure.
    login_lockout_after: int = 5
    login_lockout_s: float = 60.0
    login_lockout_max_s: float = 900.0
    # Failed sign-ins one IP may make across all accounts (then 429 until the window moves on).
    limit_login_failures_per_ip: str = "30/15 minutes"
    # Failed sign-ins of one account across all IPs past which each attempt on it waits login_slowdown_s seconds
    # before its password is checked (at most 10): a slow-down, never a refusal.
    limit_login_failures_per_account: str = "10/15 minutes"
    login_slowdown_s: float = 1.0
    # Sign-in attempts one IP may have in progress at once (each password check costs 64 MiB of memory).
    max_logins_per_ip: int = 2
    # Proxies trusted to say the client's address and scheme (X-Forwarded-For / -Proto), comma-separated IPs or
    # "*"; the default trusts a reverse proxy on this machine; empty: trust none (tier0 serve passes it to uvicorn).
    trusted_proxies: str = "127.0.0.1"
    # Request bodies larger than this many bytes are refused with 413 before they are read.
    max_request_bytes: int = MAX_REQUEST_BYTES
    # Origins of the company's sites that embed the chat (comma-separated, e.g. "https://www.example.com"): they
    # may frame the chat page and call the widget API (CORS). Empty: none; the desk is never framed.
    widget_origins: str = ""
    # Strict-Transport-Security max-age (seconds) sent on responses served over HTTPS; 0 = none.
    hsts_seconds: int = 31536000
    # Serve the OpenAPI docs (/docs, /redoc, /openapi.json); false answers 404 there.
    openapi_docs: bool = True

    # -- KB editors and analytics (#22) -----------------------------------------------------------------------------
    # editor: drafts, versions, publish (A)

    # instant publish: incremental index and calibration (B)
    # Seconds after the last KB change before the calibration is fully refitted in the background (the index and an
    # adapted calibration follow each change at once; a burst of publishes gives one refit). < 0: only the periodic
    # check (TIER0_CALIBRATION_INTERVAL), `tier0 calibrate` and the editor's refit button refit.
    refit_delay: float = 30.0

    # try it, calibration health, refit with curves (C)

    # article feedback, content gaps, ticket to article (D)
    # Content gaps (bot.gaps): two groups of unanswered questions merge while the mean cosine distance between their
    # questions (1 - cosine, averaged over the search's models) is below a threshold read on the KB's own yardstick in
    # that language: 0 = the median distance between two phrasings of one KB article, 1 = the median distance between
    # questions of two different articles; lower = more, tighter groups. Default 0.25 (bench/RESULTS.md).
    gaps_distance: float = 0.25
    # The most recent unanswered questions one content-gap report groups (each embedded once per process). Default 1000.
    gaps_max_questions: int = 1000
    # The period of the content-gap report and the feedback figures when the request names none (days). Default 30.
    gaps_default_days: int = 30

    # analytics and satisfaction (E)
    # The time zone of the analytics' days (a day runs midnight to midnight there); ?tz= may ask another.
    analytics_timezone: str = "Europe/Paris"

    @validator("analytics_timezone")
    def _analytics_timezone(cls, v: str) -> str:  # noqa: N805
        from zoneinfo import available_timezones

        if v not in available_timezones():
            raise ValueError(f"{v!r} is not a time zone such as 'Europe/Paris'")
        return v

    # import, export, HTML (F)
    # A KB archive imported (POST /api/editor/import, `tier0 kb import FILE.zip`; knowledge_base.transfer): at most
    # import_max_files entries, each at most import_max_file_bytes once uncompressed, all of them at most
    # import_max_total_bytes; an entry over 16 KiB compressed more than import_max_ratio to 1 refuses the archive
    # (a zip bomb). Over HTTP the uploaded archive itself may be import_max_upload_bytes (the one route allowed more
    # than TIER0_MAX_REQUEST_BYTES).
    import_max_upload_bytes: int = 20_000_000
    import_max_files: int = 5000
    import_max_file_bytes: int = 1_000_000
    import_max_total_bytes: int = 50_000_000
    import_max_ratio: int = 100

    @validator("import_max_upload_bytes", "import_max_files", "import_max_file_bytes", "import_max_total_bytes",
               "import_max_ratio")
    def _import_limits(cls, v: int) -> int:  # noqa: N805
        if v < 1:
            raise ValueError("must be at least 1")
        return v

    # -- the website widget (#23) -----------------------------------------------------------------------------------
    # widget backend: public search, idempotency, offline contact, widget.js (H1)
    # Public search while typing (GET /api/search, no sign-in) per IP address: a rate such as "60/minute;1000/hour".
    limit_search_per_ip: str = "60/minute;1000/hour"
    # A message's Idempotency-Key is remembered this many hours (the same key again returns the first result).
    idempotency_keep_hours: float = 24.0
    # A second request with the key of a turn still running waits this long for its result (then 409, retry).
    idempotency_wait_s: float = 30.0
    # A key whose turn has run this long without a result (its worker died) is taken over by the next request.
    idempotency_stale_s: float = 120.0

    @validator("limit_search_per_ip")
    def _search_rate(cls, v: str) -> str:  # noqa: N805
        from limits import parse_many

        if v.strip():
            try:
                parse_many(v)
            except ValueError:
                raise ValueError(f"{v!r} is not a rate such as '60/minute' or '60/minute;1000/hour'") from None
        return v

    @validator("idempotency_keep_hours", "idempotency_wait_s", "idempotency_stale_s")
    def _widget_positive(cls, v: float) -> float:  # noqa: N805
        if v <= 0:
            raise ValueError("must be more than 0")
        return v


    # widget front end (H2)

    @validator("limit_conversations_per_ip", "limit_messages_per_conversation", "limit_messages_per_ip",
               "limit_login_failures_per_ip", "limit_login_failures_per_account")
    def _rates(cls, v: str) -> str:  # noqa: N805
        from limits import parse_many

        if v.strip():
            try:
                parse_many(v)
            except ValueError:
                raise ValueError(f"{v!r} is not a rate such as '20/minute' or '20/minute;300/hour'") from None
        return v

    @validator("login_slowdown_s")
    def _slowdown(cls, v: float) -> float:  # noqa: N805
        if not 0.0 <= v <= 10.0:
            raise ValueError("login_slowdown_s must be between 0 and 10 seconds")
        return v

    @validator("widget_origins")
    def _origins(cls, v: str) -> str:  # noqa: N805
        import re

        for origin in (o.strip().rstrip("/") for o in v.split(",") if o.strip()):
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
                raise ValueError(f"{origin!r} is not an origin such as https://www.example.com")
        return v

    @validator("gaps_distance")
    def _gaps_distance(cls, v: float) -> float:  # noqa: N805
        if not -1.0 < v < 2.0:
            raise ValueError("gaps_distance must be between -1 and 2 (exclusive): 0 is the KB's distance between two "
                             "phrasings of one article, 1 its distance between two articles")
        return v

    @validator("gaps_max_questions", "gaps_default_days")
    def _gaps_counts(cls, v: int) -> int:  # noqa: N805
        if not 1 <= v <= 100000:
            raise ValueError("must be between 1 and 100000")
        return v

    @validator("max_streams_per_conversation", "max_streams_per_ip", "max_logins_per_ip", "login_lockout_after",
               "max_request_bytes")
    def _at_least_one(cls, v: int) -> int:  # noqa: N805
        if v < 1:
            raise ValueError("must be at least 1")
        return v

    # sessions and tokens: lifetimes, stream tickets, the first admin's password
    # Absolute lifetime of an agent's sign-in session (hours since sign-in): refused after it, however recently used
    # (the idle expiry, TIER0_SESSION_HOURS, slides within it). Default 24.
    session_max_hours: float = 24.0
    # A customer token expires after this many hours without use (sliding: each authorized use extends it, written
    # at most every few minutes); then the widget starts a new conversation. Default 72 (3 days).
    customer_token_hours: float = 72.0
    # Stream tickets (what EventSource sends instead of a bearer token): valid this many seconds, once. Default 60.
    stream_ticket_seconds: float = 60.0
    # feedback: how customers' votes count for the calibration
    # How far customers' anonymous "yes, that helped" votes may lower an answer threshold: down to where the trusted
    # evidence (the KB's own phrasings, agents' flags) shows at most TIER0_TARGET_WRONG_RATE x (1 + this) wrong
    # answers, whatever the number of votes. 0 (default): never below the threshold the trusted evidence gives for
    # the target, so no flood of votes can push the bot past the operator's target.
    feedback_relax: float = 0.0
    # How far anonymous "that didn't help" votes (and a learnt out-of-KB share above TIER0_OUT_OF_KB_SHARE) may raise
    # it: it keeps at least this share of the right answers the trusted evidence gives at the operator's own
    # settings, however many votes or off-topic questions arrive (default 0.75; 1 = never above it).
    feedback_keep: float = 0.75
    # Customers' labelled answers counted per conversation (the latest ones; the same question answered twice in a
    # conversation counts once); agents' flags are all counted (default 3).
    feedback_per_conversation: int = 3
    # Customers' questions per conversation that teach the out-of-KB share (the first ones; a question repeated in
    # a conversation counts once) (default 3).
    feedback_questions_per_conversation: int = 3
    # The least time (seconds) between two refits that new votes or questions trigger (a KB or settings change
    # refits at once; `tier0 calibrate --force` too): a flood cannot keep the workers refitting (default 3600).
    feedback_refit_min_interval: float = 3600.0
    # webhooks and atomic writes: delivery time limit, fairness, purge
    # The whole time one webhook delivery attempt may take (seconds: connect, send, the answer's status and headers);
    # past it the attempt failed and is retried later. Must be more than 0. Default 10.
    webhook_timeout_s: float = 10.0
    # Delivered webhook deliveries are deleted this many days after delivery (0 keeps them). Default 7.
    webhook_keep_delivered_days: float = 7.0
    # Failed ("dead") webhook deliveries are deleted this many days after their last attempt (0 keeps them); until
    # then an admin can redeliver them. Default 30.
    webhook_keep_failed_days: float = 30.0
    # personal data: masking, retention, erasure
    # Days after which a conversation with no activity (no message, no ticket change) and no open ticket is
    # anonymised: texts erased, customer data cleared, Rasa's tracker deleted (handoff.erasure), by the background
    # jobs every hour and by `tier0 privacy purge`. Default 365: longer than the 180 days the calibration learns from
    # and than most disputes take; 0 keeps conversations forever.
    retention_days: float = 365.0

    class Config:
        env_prefix = "TIER0_"

    @validator("target_wrong_rate")
    def _rate(cls, v: float) -> float:  # noqa: N805
        if not 0.0 < v < 1.0:
            raise ValueError("target_wrong_rate must be between 0 and 1 (e.g. 0.03 for 3 %)")
        return v

    @validator("out_of_kb_share")
    def _share(cls, v: float) -> float:  # noqa: N805
        if not 0.0 < v < 1.0:
            raise ValueError("out_of_kb_share must be between 0 and 1, exclusive (e.g. 0.3 for 30 %)")
        return v

    @validator("tracker_store")
    def _tracker(cls, v: Optional[str]) -> Optional[str]:  # noqa: N805
        if v is not None and v not in ("sql", "redis", "memory"):
            raise ValueError("tracker_store must be sql, redis or memory")
        return v

    @validator("turn_threads", "workers")
    def _positive(cls, v: int) -> int:  # noqa: N805
        if v < 1:
            raise ValueError("must be at least 1")
        return v

    @validator("feedback_relax", "feedback_refit_min_interval")
    def _feedback_not_negative(cls, v: float) -> float:  # noqa: N805
        if v < 0:
            raise ValueError("must be 0 or more")
        return v

    @validator("feedback_keep")
    def _feedback_keep(cls, v: float) -> float:  # noqa: N805
        if not 0.0 <= v <= 1.0:
            raise ValueError("feedback_keep must be between 0 and 1 (e.g. 0.75 keeps three right answers in four)")
        return v

    @validator("feedback_per_conversation", "feedback_questions_per_conversation")
    def _feedback_per_conversation(cls, v: int) -> int:  # noqa: N805
        if v < 1:
            raise ValueError("must be at least 1")
        return v

    @validator("session_max_hours", "customer_token_hours", "stream_ticket_seconds", "webhook_timeout_s")
    def _more_than_zero(cls, v: float) -> float:  # noqa: N805
        if not v > 0:
            raise ValueError("must be more than 0")
        return v

    @validator("retention_days", "webhook_keep_delivered_days", "webhook_keep_failed_days")
    def _days(cls, v: float) -> float:  # noqa: N805
        if v < 0:
            raise ValueError("must be 0 (keep forever) or more")
        return v

    @validator("home", "sample_kb", "desk_config", pre=False)
    def _absolute(cls, v: Path) -> Path:  # noqa: N805
        return Path(v).expanduser().resolve()

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'tier0.db'}"

    @property
    def tracker(self) -> str:
        """The tracker store in force (see ``tracker_store``)."""
        if self.tracker_store:
            return self.tracker_store
        return "redis" if self.redis_url else "sql"

    @property
    def index_dir(self) -> Path:
        return Path(self.index_cache) if self.index_cache else self.home / "index"

    @property
    def calibration_file(self) -> Path:
        return self.index_dir / "calibration.json"

    @property
    def models_dir(self) -> Path:
        return Path(self.model_cache) if self.model_cache else self.home / "models"


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
