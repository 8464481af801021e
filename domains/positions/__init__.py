"""Positions domain: holdings and perpetual positions read models, margin and risk views."""
