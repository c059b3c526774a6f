"""procops.drills"""
