"""The pages: server-rendered with Jinja2, htmx and a little JavaScript."""
