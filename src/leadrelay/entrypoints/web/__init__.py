"""Pieces of the web console that are not pages: server-rendered SVG charts (``charts``)."""
