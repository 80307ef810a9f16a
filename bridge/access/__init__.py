"""Who may connect and read what: tokens, principals, admission limits, the HTTP side of auth, log
redaction.
"""
