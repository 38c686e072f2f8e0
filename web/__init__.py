"""The web role: a Falcon WSGI application (UI, HTTP APIs, tracking, health)."""
