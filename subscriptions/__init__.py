"""Event fan-out: the Broker protocol with in-process and Redis implementations."""
