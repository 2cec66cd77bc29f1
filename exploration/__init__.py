"""advex.exploration"""
