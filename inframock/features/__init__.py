"""inframock/features"""
