"""The GPUs the simulated engine can pretend to run on.

Figures are the vendors' datasheet numbers (dense, i.e. without structured sparsity). ``memory_bytes``
is what PyTorch reports as the device's total capacity, which is a little below the marketing size.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..registry import Registry

GIB = 1024**3


@dataclass(frozen=True)
class GPU:
    name: str
    full_name: str
    memory_bytes: int
    bf16_tflops: float  # dense tensor-core peak
    fp8_tflops: float | None  # None: no FP8 tensor cores (FP8 weights run through BF16 kernels)
    hbm_gbps: float  # memory bandwidth, GB/s
    link_gbps: float  # per-GPU one-direction bandwidth to its peers (NVLink or PCIe), GB/s
    allreduce_latency_s: float  # fixed cost of one small all-reduce across the node
    interconnect: str
    fp4_tflops: float | None = None  # None: no FP4 tensor cores (FP4 weights are dequantized to FP8/BF16)

    @property
    def memory_gib(self) -> float:
        return self.memory_bytes / GIB

    def peak_flops(self, fp8: bool, fp4: bool = False) -> float:
        if fp4 and self.fp4_tflops:
            return self.fp4_tflops * 1e12
        if (fp8 or fp4) and self.fp8_tflops:
            return self.fp8_tflops * 1e12
        return self.bf16_tflops * 1e12


GPUS: Registry[GPU] = Registry("GPU", "simulate.gpu")  # the one list of GPUs; register() adds one
for _gpu in (
        GPU("h100", "NVIDIA H100 80GB HBM3 (SXM)", int(79.11 * GIB), 989.0, 1979.0, 3350.0, 450.0,
            10e-6, "NVLink 4"),
        GPU("h200", "NVIDIA H200 (SXM, 141GB HBM3e)", int(139.81 * GIB), 989.0, 1979.0, 4800.0, 450.0,
            10e-6, "NVLink 4"),
        GPU("a100", "NVIDIA A100-SXM4-80GB", int(79.15 * GIB), 312.0, None, 2039.0, 300.0, 12e-6,
            "NVLink 3"),
        GPU("l40s", "NVIDIA L40S (48GB GDDR6)", int(44.39 * GIB), 362.0, 733.0, 864.0, 25.0, 30e-6,
            "PCIe Gen4"),
):
    GPUS.register(_gpu.name, _gpu)
# Blackwell: HGX B200 / B300 (Blackwell Ultra) and the GB200 NVL72 superchip's GPU; NVLink 5 is
# 1.8 TB/s both ways per GPU. B300 trades FP64 for more FP4; its BF16/FP8 match B200.
for _gpu in (
        GPU("b200", "NVIDIA B200 (SXM, 180GB HBM3e)", int(178.4 * GIB), 2250.0, 4500.0, 8000.0, 900.0,
            8e-6, "NVLink 5", fp4_tflops=9000.0),
        GPU("b300", "NVIDIA B300 (SXM, 288GB HBM3e)", int(268.0 * GIB), 2250.0, 4500.0, 8000.0, 900.0,
            8e-6, "NVLink 5", fp4_tflops=13500.0),
        GPU("gb200", "NVIDIA GB200 (NVL72, 186GB HBM3e per GPU)", int(184.0 * GIB), 2500.0, 5000.0, 8000.0,
            900.0, 8e-6, "NVLink 5 (NVL72)", fp4_tflops=10000.0),
):
    GPUS.register(_gpu.name, _gpu)
ALIASES = {"h100_sxm": "h100", "h100-sxm": "h100", "a100_80gb": "a100", "a100-80gb": "a100", "h200_sxm": "h200",
           "h200-sxm": "h200", "b200_sxm": "b200", "b200-sxm": "b200", "b300_sxm": "b300", "b300-sxm": "b300",
           "gb200_nvl72": "gb200"}


def get_gpu(name: str) -> GPU:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in GPUS:
        raise ValueError(f"gpu {name!r} is not one of: {', '.join(GPUS)}")
    return GPUS[key]


def register_gpu(gpu: GPU) -> GPU:
    return GPUS.register(gpu.name, gpu)
