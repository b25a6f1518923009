"""gapfill: finds dropped and damaged spans in equipment-camera recordings and fills them with
flagged, auditable reconstructions."""

__version__ = "0.1.0"
