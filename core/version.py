"""The platform's version, reported by `postal version`, the SMTP banner and User-Agent headers."""

__version__ = "0.1.0"
