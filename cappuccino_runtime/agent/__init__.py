"""PPO agent: Gaussian actor and critic MLPs and the training loop."""
