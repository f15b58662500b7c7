"""Builds the media engine's optional C extension; everything else is in pyproject.toml.

`optional=True`: a machine without a C compiler still installs rtcload, and the engine then runs its
pure-Python per-packet path (rtcload.media.engine.native_path() says which one runs).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "rtcload.media.engine._native",
            sources=["rtcload/media/engine/_native.c"],
            extra_compile_args=["-O2", "-Wall", "-Wno-unused-parameter", "-pthread"],
            extra_link_args=["-pthread"],  # the engine's send thread (Sender)
            optional=True,
        )
    ]
)
