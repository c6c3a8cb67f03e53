"""Everything that touches a model: runtime loading, detector, reader, vehicle classifier."""
