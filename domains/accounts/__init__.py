"""Accounts domain: tenants (institutions), customers, accounts and sub-accounts, API keys."""
