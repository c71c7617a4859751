"""The server's start: check every MODELHOST_* setting, have mod_wsgi-express write Apache's configuration, exec Apache.

docker/modelhost-start, the image's ENTRYPOINT and what ``make run`` runs, only finds a Python and
runs ``python -m app.launch`` with it (``__main__``). The settings are read in ``settings`` (with the
rules of each kind of value in ``checks``) and ``ldap``, the folders Apache and the application use
are prepared in ``folders``, and ``apache`` turns it all into mod_wsgi-express's arguments and Apache's
environment. Nothing here builds the application: the start reads settings, never models or routes.
"""
