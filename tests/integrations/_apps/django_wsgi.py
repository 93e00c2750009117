"""WSGI entry of the Django test project: gunicorn ``django_wsgi:application``, or wsgiref (run it)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_app")

if os.environ.get("APP_IN_CODE") == "1":
    import botanu

    botanu.init()

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()

if __name__ == "__main__":
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = make_server("127.0.0.1", 0, application, handler_class=QuietHandler)
    print(f"READY {server.server_port}", flush=True)
    server.serve_forever()
