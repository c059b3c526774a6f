"""procops.sandbox"""
