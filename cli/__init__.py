"""procops.cli"""
