"""The score model (denoiser), the DDPM/DDIM schedule, checkpoints."""
