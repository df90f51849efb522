"""Training the diffusion prior (recipe, data, EMA of the weights) and evaluating it (offline tools; may use the
simulator's motion clips).
"""
