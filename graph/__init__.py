"""Composition root and transport: app, bootstrap, schemas, CLI."""
