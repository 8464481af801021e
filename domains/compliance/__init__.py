"""Compliance domain: KYC, screening, monitoring, surveillance, cases, audit trail."""
