"""Numba kernels: plain @njit functions on NumPy arrays, imported as trackannot.kernels."""
