"""WSGI entry point for any WSGI server: `gunicorn web.wsgi:app`."""

from core.broker import Publisher, create_broker
from core.config import load_config
from core.logs import setup_logging
from core.runtime import Runtime
from web.app import create_app

config = load_config()
setup_logging(config)
app = create_app(Runtime.create(config, Publisher(create_broker(config, allow_embedded=False))))
