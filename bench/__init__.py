"""Benchmarks of the ticketing API under real gunicorn and PostgreSQL (see bench/run.py)."""
