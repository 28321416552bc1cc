"""Fixtures of the store tests.

The S3-compatible test server (``s3_server``, ``s3_url``) lives in ``tests/conftest.py``: the
cluster tests of ``tests/parallel`` share the same server process.
"""
