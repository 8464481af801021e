"""Orders domain: markets, order entry and the order and trade read models."""
