"""ordermill: order management for independent online stores."""

__version__ = "0.1.0"
