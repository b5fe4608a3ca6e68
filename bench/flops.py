"""Analytic FLOP counts and a matmul reference, for benchmarks' roofline fractions.

Counts multiply-adds of Dense, Conv2D and Conv2DTranspose layers (2 FLOPs each) from
their shapes; elementwise layers (activations, BatchNorm, dropout) are left out, so
achieved FLOP/s figures are slight underestimates.
"""

import math
import os
import platform
import time

import keras
import numpy as np
from keras import layers


def forward_flops(model):
    """FLOPs of one forward pass of ``model`` for one example."""
    total = 0
    for layer in _leaf_layers(model):
        if isinstance(layer, layers.Conv2DTranspose):
            total += 2 * math.prod(layer.input.shape[1:]) * math.prod(layer.kernel_size) * layer.filters
        elif isinstance(layer, layers.Conv2D):
            in_channels = layer.input.shape[-1]
            total += 2 * math.prod(layer.output.shape[1:]) * math.prod(layer.kernel_size) * in_channels
        elif isinstance(layer, layers.Dense):
            total += 2 * math.prod(layer.input.shape[1:]) * layer.units
    return total


def _leaf_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


def matmul_flops_per_second(n=1024, repeats=20):
    """float32 FLOP/s of an n x n matmul through the active Keras backend (best of ``repeats``)."""
    rng = np.random.default_rng(0)
    a = keras.ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32))
    b = keras.ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32))
    keras.ops.convert_to_numpy(keras.ops.matmul(a, b))  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(keras.ops.matmul(a, b))
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def machine():
    """The machine as a reader would name it: the CPU's model and cores, or the accelerator the backend uses."""
    devices = [d for d in _backend_devices() if not d.lower().startswith("cpu")]
    if devices:
        return f"{len(devices)} x {devices[0]}"
    names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
    return f"{names[0] if names else platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def _backend_devices():
    """Device descriptions from the active backend (JAX: device kind; TensorFlow: GPU names)."""
    if keras.backend.backend() == "jax":
        import jax

        return [d.device_kind if d.platform != "cpu" else "cpu" for d in jax.devices()]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return [tf.config.experimental.get_device_details(d).get("device_name", d.name)
                for d in tf.config.list_physical_devices("GPU")]
    return []
