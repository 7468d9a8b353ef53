"""A fake engine that fails at start-up like PyTorch when the GPU memory runs out."""

import sys

print("fake engine: loading model weights")
print("Traceback (most recent call last):", file=sys.stderr)
print('  File "model_runner.py", line 42, in load_model', file=sys.stderr)
print("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. "
      "GPU 0 has a total capacity of 79.19 GiB of which 1.02 GiB is free.", file=sys.stderr)
sys.exit(1)
