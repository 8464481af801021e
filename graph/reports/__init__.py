"""Compliance report export (sources, HTTP, CLI); reads graph.writer's journal; no http/ops."""
