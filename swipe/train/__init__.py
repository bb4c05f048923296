"""Training: augmentation, the Ray Data stream, the LightningModule, Ray Train fits, tracking, Ray Tune sweeps."""
