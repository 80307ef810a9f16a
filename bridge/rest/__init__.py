"""The REST API under /v1 and the documents that describe it (OpenAPI, AsyncAPI, problem
details).
"""
