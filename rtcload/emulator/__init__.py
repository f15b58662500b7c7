"""The embedded platform emulator: the default target of every run and every test."""

from rtcload.emulator.auth import UserDirectory, mint_token
from rtcload.emulator.config import EmulatorConfig
from rtcload.emulator.faults import Faults
from rtcload.emulator.server import Emulator
from rtcload.media.answerer import MediaAnswerer, StaticAnswerer

__all__ = ["Emulator", "EmulatorConfig", "Faults", "MediaAnswerer", "StaticAnswerer", "UserDirectory", "mint_token"]
