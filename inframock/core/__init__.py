"""inframock/core"""
