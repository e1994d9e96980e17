"""Marshmallow schemas per resource: input, output and query arguments."""
