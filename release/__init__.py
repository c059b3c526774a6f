"""procops.release"""
