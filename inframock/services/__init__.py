"""inframock/services"""
