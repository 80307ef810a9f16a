"""What every mdbridge process needs at its edge, shared by services/ and bridge/.

Settings sources (environment, config file), NATS connection options (credentials and
certificate files), the telemetry pipeline (OpenTelemetry SDK, Prometheus, OTLP) and retry
backoff. These do I/O or pull heavy libraries, so they live here and not in ``schemas``, which
stays pure data. Import the modules themselves: this ``__init__`` imports nothing, so the
dependency-free ``processkit.backoff`` stays importable by ``mdbridge.client`` on its own.
"""
