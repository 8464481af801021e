"""Custody domain: wallets, deposit addresses, deposits, withdrawals, proof of reserves."""
