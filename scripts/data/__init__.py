"""Data: the datasets and their splits, the plate renderer, augmentation, teacher reads, packs and fixtures."""
