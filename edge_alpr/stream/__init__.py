"""The camera loop: frame sources, sampling, zone mask, tracking into one event per vehicle."""
