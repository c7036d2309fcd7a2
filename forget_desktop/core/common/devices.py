"""Choose the compute device: MPS, else CUDA, else CPU. Face detection always stays on the CPU."""

from __future__ import annotations

import torch

from .errors import ForgetError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def available_devices() -> list[str]:
    """Backends usable here, checked one by one (``torch.accelerator`` is not trusted)."""
    found = []
    if torch.backends.mps.is_available():
        found.append("mps")
    if torch.cuda.is_available():
        found.append("cuda")
    return found + ["cpu"]


def pick_device(preference: str = "auto") -> torch.device:
    """The device for models: ``auto`` prefers MPS, then CUDA, then CPU."""
    choice = (preference or "auto").lower()
    if choice not in DEVICE_CHOICES:
        raise ForgetError(f"Unknown device '{preference}': choose one of {', '.join(DEVICE_CHOICES)}.")
    usable = available_devices()
    if choice == "auto":
        return torch.device(usable[0])
    if choice not in usable:
        raise ForgetError(
            f"The {choice.upper()} device is not available on this machine; available: {', '.join(usable)}."
        )
    return torch.device(choice)


def describe_device(device: torch.device) -> str:
    """A short human name, e.g. 'CUDA (NVIDIA H100)' or 'CPU (2 threads)'."""
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "MPS (Apple GPU)"
    return f"CPU ({torch.get_num_threads()} threads)"
