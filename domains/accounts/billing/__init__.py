"""Billing of institutions (tenants): plans, metered usage, monthly invoices.

Part of the accounts domain (which owns tenants and their commercial configuration); reads
other rooms' data only through the ports in ``ports.py``, wired by graph/bootstrap.py.
"""
