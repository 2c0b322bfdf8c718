"""inframock/services/postgres"""
