"""The admin API under /admin and the Prometheus scrape at /metrics."""
