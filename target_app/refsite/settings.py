"""Settings of the reference Channels project.

Embedded defaults: SQLite and the in-memory channel layer, nothing to start by
hand. Environment variables switch what a deployment would switch:

- ``REFSITE_DB``: path of the SQLite file (default ``target_app/db.sqlite3``).
- ``CHANNEL_LAYER``: ``memory`` (default), ``redis`` or ``redis-pubsub``.
- ``REDIS_URL``: the Redis server for the Redis layers (default ``redis://127.0.0.1:6379/0``).
- ``DJANGO_DEBUG``: ``1`` turns on Django's debug mode (off by default: it slows every request).
- ``DJANGO_ALLOWED_HOSTS``: more host names to serve, comma-separated (the harness
  sets it when its servers listen on another address than loopback).
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "reference-app-only-not-a-secret-change-me-in-a-real-deployment"
)
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"] + [
    host.strip() for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if host.strip()
]

INSTALLED_APPS = [
    "daphne",
    "channels",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "wsapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "refsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "refsite.wsgi.application"
ASGI_APPLICATION = "refsite.asgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("REFSITE_DB", str(BASE_DIR / "db.sqlite3")),
        # several server processes may share the file
        "OPTIONS": {"timeout": 20},
    }
}

# Migrate the SQLite database when a server loads the ASGI application, so a
# fresh checkout serves without a manual ``manage.py migrate``.
AUTO_MIGRATE = os.environ.get("REFSITE_AUTO_MIGRATE", "1") == "1"

_LAYER = os.environ.get("CHANNEL_LAYER", "memory")
_REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# No client-side read timeout: redis-py 8 defaults it to 5 s, the same as the
# layer's blocking BZPOPMIN, and a busy event loop then loses the race and the
# consumer dies with "Timeout reading from ..." (django/channels_redis#422).
_REDIS_HOST = {"address": _REDIS_URL, "socket_timeout": None}
if _LAYER == "memory":
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
elif _LAYER == "redis":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [_REDIS_HOST]},
        }
    }
elif _LAYER == "redis-pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [_REDIS_HOST]},
        }
    }
else:
    raise ValueError(f"CHANNEL_LAYER must be memory, redis or redis-pubsub, not {_LAYER!r}")

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
LOGIN_REDIRECT_URL = "/healthz/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}
