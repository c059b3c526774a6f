"""procops.loadtests"""
