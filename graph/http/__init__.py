"""The HTTP transport: app, routes, explorer, payload limits, metrics; no graph.writer/ops."""
