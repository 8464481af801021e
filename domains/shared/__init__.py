"""Small pieces every domain shares: errors, ids, money, Relay connections, storage helpers."""
