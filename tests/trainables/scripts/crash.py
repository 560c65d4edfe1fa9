"""Prints one metric line, then fails the way a training script does."""

print("loss: 0.9", flush=True)
raise ValueError("boom: the data loader broke")
