"""WSGI entry point for mod_wsgi: the only place the application object is built at import."""
from app import create_app

application = create_app()
