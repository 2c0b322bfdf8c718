"""inframock/services/relay"""
