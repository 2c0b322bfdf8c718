"""inframock/roads"""
