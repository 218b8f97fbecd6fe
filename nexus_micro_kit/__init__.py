"""Conformance kit for MX Nexus API GET /micro_deposits (see nexus_micro_kit/README.md)."""
