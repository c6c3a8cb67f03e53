"""edge-alpr: on-device licence-plate recognition with a Plate Recognizer-compatible API."""

__version__ = "0.1.0"
