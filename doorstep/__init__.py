"""Doorstep: a self-hosted post-purchase experience platform."""

__version__ = "0.1.0"
