"""`[rt]`: how the bot reaches Safespring's Request Tracker (RT 5 REST 2.0 or RT 4.4 REST 1.0)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from bot.settings_base import Section

Severity = Literal["P1", "P2", "P3"]


class SeverityPriority(Section):
    """RT priority for each severity `!ticket` accepts (RT's default range is 0-99)."""

    P1: int = Field(default=90, ge=0, le=255)
    P2: int = Field(default=50, ge=0, le=255)
    P3: int = Field(default=20, ge=0, le=255)

    def for_severity(self, severity: Severity) -> int:
        return int(getattr(self, severity))


class RTSettings(Section):
    """Escalation to RT is off while `url` is unset."""

    url: str | None = Field(default=None, description="RT base URL, e.g. https://rt.example.com")
    token: SecretStr | None = Field(default=None, description="RT auth token (1-<uid>-<hex>)")
    token_file: Path | None = Field(default=None, description="file holding the token instead")
    # Which RT API: "auto" probes once at start (REST 2.0 if RT has it, else REST 1.0).
    api: Literal["auto", "rest2", "rest1"] = "auto"
    # REST 1.0 (RT 4.4) logs in with a user name and password; RT 4.4 has no auth tokens.
    username: str | None = Field(default=None, description="RT user for REST 1.0 (RT 4.4)")
    password: SecretStr | None = Field(default=None, description="that user's password")
    password_file: Path | None = Field(default=None, description="file holding the password")
    # REST 1.0 polling: at most this many updated tickets' histories are read per poll (the
    # rest wait for the next poll), so one poll costs at most 1 + this + new-transaction reads.
    poll_max_tickets: int = Field(default=25, ge=1, le=1000)
    poll_max_transactions: int = Field(default=100, ge=1, le=10000)
    queue: str = "Support"
    matrix_room_field: str = "Matrix Room"
    matrix_thread_field: str = "Matrix Thread"
    default_severity: Severity = "P3"
    severity_priority: SeverityPriority = Field(default_factory=SeverityPriority)
    # The ticket body (the chat transcript) as the create message, or a short body plus a comment
    # (a comment keeps the transcript out of the requestor's auto-reply mail).
    transcript_as: Literal["comment", "correspondence"] = "correspondence"
    web_url: str | None = Field(default=None, description="RT web UI base; defaults to url")
    poll_interval_seconds: float = Field(default=15.0, gt=0, le=3600)
    # A staff message in an escalated thread becomes an internal RT comment unless it starts
    # with this marker; then it is sent to the requestor as correspondence (marker stripped).
    staff_comment_marker: str = Field(default="public:", min_length=1)
    customers_may_escalate: bool = False
    # Post RT comments (internal notes) to the staff room; never to the support room.
    comments_to_staff_room: bool = False
    p1_notice: str = (
        "For a P1 (production down) also call Safespring support by phone, 24/7: +47 23 65 32 23 (Norway) "
        "or +46 8 551 073 74 (Sweden), and e-mail support@safespring.com."
    )
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    timeout_seconds: float = Field(default=20.0, gt=0)
    retries: int = Field(default=3, ge=0, le=10, description="extra attempts on 5xx/network")
    retry_backoff_seconds: float = Field(default=0.5, ge=0)
    # Outbox: how long to wait between attempts while RT is unreachable.
    outbox_retry_seconds: float = Field(default=10.0, gt=0)
    verify_tls: bool = True
    # After an RT write whose fate is unknown (timeout, reset, 5xx after sending): how long
    # a search must keep finding nothing, once RT answers again, before the write is repeated.
    reconcile_settle_seconds: float = Field(default=3.0, ge=0)
    # A thread is told its escalation is queued once RT has failed, or once its create has
    # waited this long (RT hanging); the promise is "within 2 s".
    queued_notice_seconds: float = Field(default=1.0, gt=0, le=60)

    @field_validator("url", "web_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip().rstrip("/")
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v

    @model_validator(mode="after")
    def _one_token_source(self) -> RTSettings:
        if self.url is None:
            return self
        if self.token is not None and self.token_file is not None:
            raise ValueError("[rt] needs exactly one of token or token_file, not both")
        if self.password is not None and self.password_file is not None:
            raise ValueError("[rt] needs exactly one of password or password_file, not both")
        has_token = self.token is not None or self.token_file is not None
        has_password = self.password is not None or self.password_file is not None
        if has_password and not self.username:
            raise ValueError("[rt] password/password_file needs username")
        if self.api == "rest2" and not has_token:
            raise ValueError("[rt] api = rest2 needs exactly one of token or token_file")
        if self.api == "rest1" and not has_password:
            raise ValueError(
                "[rt] api = rest1 needs username and exactly one of password or password_file"
            )
        if self.api == "auto" and not (has_token or has_password):
            raise ValueError(
                "[rt] needs exactly one of token or token_file (REST 2.0), or username and"
                " password/password_file (REST 1.0, RT 4.4), when url is set"
            )
        return self

    @property
    def has_token(self) -> bool:
        return self.token is not None or self.token_file is not None

    @property
    def has_password(self) -> bool:
        return self.password is not None or self.password_file is not None

    @property
    def enabled(self) -> bool:
        return self.url is not None

    @property
    def rest_url(self) -> str:
        if self.url is None:
            raise ValueError("[rt] url is not set")
        return f"{self.url}/REST/2.0"

    def ticket_link(self, ticket_id: int) -> str:
        base = self.web_url or self.url or ""
        return f"{base}/Ticket/Display.html?id={ticket_id}"

    def read_token(self) -> str:
        """The token; reads token_file (small, once at startup: fine outside the event loop)."""
        if self.token is not None:
            return self.token.get_secret_value().strip()
        if self.token_file is None:
            raise ValueError("[rt] neither token nor token_file is set")
        try:
            value = self.token_file.read_text().strip()
        except OSError as exc:
            raise ValueError(f"[rt] token_file {self.token_file}: {exc.strerror}") from exc
        if not value:
            raise ValueError(f"[rt] token_file {self.token_file} is empty")
        return value

    def read_password(self) -> str:
        """The REST 1.0 password; reads password_file (once at startup, like the token)."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is None:
            raise ValueError("[rt] neither password nor password_file is set")
        try:
            value = self.password_file.read_text().rstrip("\r\n")
        except OSError as exc:
            raise ValueError(f"[rt] password_file {self.password_file}: {exc.strerror}") from exc
        if not value:
            raise ValueError(f"[rt] password_file {self.password_file} is empty")
        return value
