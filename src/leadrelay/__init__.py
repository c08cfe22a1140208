"""leadrelay: self-hosted, real-time lead distribution."""

__version__ = "0.1.0"
