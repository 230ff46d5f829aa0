"""Shim for tools that still call ``setup.py``; all metadata lives in ``pyproject.toml``.

The package is pure PyTorch: no CUDA extension is built.
"""
from setuptools import setup

setup()
