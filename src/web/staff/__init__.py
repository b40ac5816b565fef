"""The staff back-office: server-rendered pages (Jinja2 + htmx)."""
