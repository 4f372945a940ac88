"""Crypto-shredding of the personal fields of the audit trail (handlers/personal_fields.py says which)."""
