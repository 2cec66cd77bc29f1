"""advex.analysis"""
