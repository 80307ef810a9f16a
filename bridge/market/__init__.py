"""What the bridge knows about the market beside the data: symbols, suggestions, source and symbol
status.
"""
