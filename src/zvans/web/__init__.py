"""The web application: JSON API, live event stream, server-rendered pages."""
