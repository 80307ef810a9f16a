"""The pages people look at: the quote board, the dashboard, the API reference, and their static
files.
"""
