"""inframock/features/sql"""
