"""Benchmarks: medians and ratios of the models, the API, the camera loop, layouts and request stages."""
