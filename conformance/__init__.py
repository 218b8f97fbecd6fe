"""Conformance kit for MX Nexus API GET /micro_deposits (see conformance/README.md)."""
