"""Training: the models' networks and trainers (CPU and GPU), int8 export, make_models.sh."""
