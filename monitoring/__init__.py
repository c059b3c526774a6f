"""procops.monitoring"""
