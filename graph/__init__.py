"""Composition root and transport. Rooms: http/ (the app), security/ (who may do what),
writer/ (the engine writer), streams/ (fan-out), reports/ (compliance export), ops/ (CLI,
seed, benchmarks); at the top only bootstrap, settings, schema, ws, context and errors."""
