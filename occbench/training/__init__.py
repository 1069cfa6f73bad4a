"""Training: targets, augmentation, losses (OccNet's branches, CPN, multi-stage) and the trainer."""
