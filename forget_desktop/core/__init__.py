"""Pure model code: data, faces, models, training, unlearning, evaluation.

Nothing under this package may import Qt (tests/test_architecture.py enforces it), so the same
code serves the window, the command line and the training scripts.
"""
