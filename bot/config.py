"""The bot's settings: one frozen object, read once from the environment (and CLI flags).

Nothing else in bot/ reads os.environ, so tests build a BotConfig directly.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields

from articlebot.corpus.errors import ArticlebotError

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_BASE_FILE_URL = "https://api.telegram.org/file/bot"

# Telegram accepts 1-256 characters of A-Z, a-z, 0-9, _ and - as a webhook secret.
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class ConfigError(ArticlebotError):
    """A missing or malformed setting (the CLI prints it on one line and exits 2)."""


@dataclass(frozen=True)
class BotConfig:
    token: str  # from TELEGRAM_BOT_TOKEN, never logged (see bot.app.TokenFilter)
    base_url: str = DEFAULT_BASE_URL  # PTB appends the token
    base_file_url: str = DEFAULT_BASE_FILE_URL
    admins: frozenset[int] = frozenset()  # user ids allowed to add/remove articles
    allowed_chats: frozenset[int] | None = None  # None: every chat
    max_upload_bytes: int = 5 * 1024 * 1024
    answers: int = 3  # passages per reply
    page_size: int = 3  # passages per "more" page
    rate_limit: int = 10  # questions per user ...
    rate_window: float = 60.0  # ... per this many seconds
    # Outgoing messages per second over all chats (Telegram's broadcast limit is about 30;
    # a self-hosted Bot API server or a paid broadcast allows more; 0 turns the cap off).
    send_rate: float = 30.0
    webhook_url: str | None = None
    listen: str = "127.0.0.1"
    port: int = 8443
    # Checked in the X-Telegram-Bot-Api-Secret-Token header of every webhook request; with a
    # webhook_url and none given, a random one is made (setWebhook hands it to Telegram).
    secret_token: str | None = None

    def __post_init__(self) -> None:
        if not self.token:
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
        if self.answers < 1 or self.page_size < 1:
            raise ConfigError("answers and page_size must be at least 1")
        if self.rate_limit < 1 or self.rate_window <= 0:
            raise ConfigError("the rate limit must allow at least 1 question in a positive window")
        if self.send_rate < 0:
            raise ConfigError("ARTICLEBOT_SEND_RATE must be 0 (no cap) or a positive number of messages per second")
        if self.secret_token is not None and not _SECRET_TOKEN.fullmatch(self.secret_token):
            raise ConfigError("the webhook secret token must be 1-256 characters of A-Z, a-z, 0-9, _ or -")
        if self.webhook_url and self.secret_token is None:
            # Without a secret, anyone who finds the webhook url could post updates "from" an
            # admin. 32 random bytes in base64url: 43 characters, all of them allowed.
            object.__setattr__(self, "secret_token", secrets.token_urlsafe(32))

    def __repr__(self) -> str:  # the default repr would print the secrets into any log or traceback
        hidden = ("token", "secret_token")
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.name not in hidden)
        secret = "<secret>" if self.secret_token else None
        return f"BotConfig(token=<token>, {shown}, secret_token={secret})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> BotConfig:
        """Settings from the environment; keyword overrides (CLI flags) win, None ones are ignored.

        TELEGRAM_BOT_TOKEN (required), TELEGRAM_API_BASE_URL, ARTICLEBOT_ADMINS ("1,2,3"),
        ARTICLEBOT_ALLOWED_CHATS, ARTICLEBOT_MAX_UPLOAD_MB, ARTICLEBOT_RATE_LIMIT ("10/60"),
        ARTICLEBOT_SEND_RATE (messages/s over all chats, 0 = no cap).
        """
        env = os.environ if env is None else env
        overrides = {name: value for name, value in overrides.items() if value is not None}
        values: dict = {"token": env.get("TELEGRAM_BOT_TOKEN", "").strip()}
        base = overrides.pop("base_url", None) or env.get("TELEGRAM_API_BASE_URL", "").strip()
        if base:
            values["base_url"], values["base_file_url"] = api_urls(base)
        if env.get("ARTICLEBOT_ADMINS", "").strip():
            values["admins"] = _ids(env["ARTICLEBOT_ADMINS"], "ARTICLEBOT_ADMINS")
        if env.get("ARTICLEBOT_ALLOWED_CHATS", "").strip():
            values["allowed_chats"] = _ids(env["ARTICLEBOT_ALLOWED_CHATS"], "ARTICLEBOT_ALLOWED_CHATS")
        if env.get("ARTICLEBOT_MAX_UPLOAD_MB", "").strip():
            megabytes = _number(env["ARTICLEBOT_MAX_UPLOAD_MB"], "ARTICLEBOT_MAX_UPLOAD_MB")
            values["max_upload_bytes"] = int(megabytes * 1024 * 1024)
        if env.get("ARTICLEBOT_SEND_RATE", "").strip():
            try:
                values["send_rate"] = float(env["ARTICLEBOT_SEND_RATE"])
            except ValueError:
                raise ConfigError(f"ARTICLEBOT_SEND_RATE must be a number, not {env['ARTICLEBOT_SEND_RATE']!r}") from None
        if env.get("ARTICLEBOT_RATE_LIMIT", "").strip():
            values["rate_limit"], values["rate_window"] = _rate(env["ARTICLEBOT_RATE_LIMIT"])
        return cls(**{**values, **overrides})


def api_urls(base: str) -> tuple[str, str]:
    """(base_url, base_file_url) for a Bot API server root or its .../bot url.

    "http://host:8081" and "http://host:8081/bot" both give
    ("http://host:8081/bot", "http://host:8081/file/bot"), the layout of the official
    server and of telegram-bot-api when self-hosted.
    """
    root = base.strip().rstrip("/")
    if not re.match(r"https?://[^/\s]+", root):
        raise ConfigError(f"the Bot API base url must start with http:// or https://, not {base!r}")
    if root.endswith("/bot"):
        root = root[: -len("/bot")]
    return f"{root}/bot", f"{root}/file/bot"


def _ids(value: str, name: str) -> frozenset[int]:
    try:
        return frozenset(int(part) for part in re.split(r"[,\s]+", value.strip()) if part)
    except ValueError:
        raise ConfigError(f"{name} must be a comma-separated list of numeric ids, not {value!r}") from None


def _number(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number <= 0:
        raise ConfigError(f"{name} must be a positive number, not {value!r}")
    return number


def _rate(value: str) -> tuple[int, float]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*", value)
    if not match or int(match[1]) < 1 or float(match[2]) <= 0:
        raise ConfigError(f"ARTICLEBOT_RATE_LIMIT must look like 10/60 (questions/seconds), not {value!r}")
    return int(match[1]), float(match[2])
