"""Subscriber fan-out and the book watcher; imports no graph.writer, graph.http, graph.ops."""
