"""edge-agent: a privacy-first licence-plate reader for the camera unit."""

__version__ = "0.1.0"
