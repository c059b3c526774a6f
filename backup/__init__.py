"""procops.backup"""
