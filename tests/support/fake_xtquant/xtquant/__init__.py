"""A stand-in for the ``xtquant`` package (MiniQMT's Python SDK) in tests: only ``xtdata``.

Put ``tests/support/fake_xtquant`` on ``sys.path`` (or ``PYTHONPATH`` for a subprocess) and
``import xtquant.xtdata`` finds it. It mirrors the real functions the adapter uses, with their
signatures, callback shapes, field names and quirks; ``xtquant._fake`` drives it.
"""

__version__ = "xtquant_fake"
