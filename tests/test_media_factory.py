"""A virtual user's call media is built by one explicit object from the run's settings (issue 25: settings
no longer thread through a closure in VirtualEndpoint, nor through 8-parameter media constructors). Each
media path gets one frozen MediaSettings: the settings' codec, ICE servers and stats interval and the
user's relay-only draw; real media objects, closed again."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from rtcload.loadgen.audio_calls import AudioScoring
from rtcload.loadgen.media_factory import CallMediaFactory
from rtcload.loadgen.settings import settings_from_options
from rtcload.media.engine.call_media import EngineCallMedia
from rtcload.media.lean import LeanCallMedia
from rtcload.media.media_settings import MediaSettings
from rtcload.media.peer import CallMedia


def _factory(path: str, **options: str) -> CallMediaFactory:
    namespace = argparse.Namespace(rtc_media_path=path, rtc_codec="pcmu", rtc_audio_score="0", **options)
    settings = settings_from_options(namespace, "ws://127.0.0.1:1/")
    return CallMediaFactory(settings, "tone:440", True, AudioScoring(settings, "tone:440"))


def test_the_options_every_path_takes_come_from_the_settings():
    factory = _factory("engine", rtc_stats_interval="1.5", rtc_ice_servers="stun:127.0.0.1:3478")
    media = factory.media_settings()
    assert media.codec == "pcmu" and media.stats_interval_s == 1.5 and media.relay_only is True
    assert [s.urls for s in media.ice_servers] == ["stun:127.0.0.1:3478"]
    with pytest.raises(dataclasses.FrozenInstanceError):  # one settings object, shared by the user's calls
        media.codec = "opus"  # type: ignore[misc]


@pytest.mark.parametrize(("path", "kind"), [("engine", EngineCallMedia), ("lean", LeanCallMedia), ("naive", CallMedia)])
async def test_each_media_path_builds_its_media(path, kind):
    media = _factory(path, rtc_decode_every="1")()
    try:
        assert type(media) is kind and media.codec_preference == "pcmu"
        assert media.settings == MediaSettings(codec="pcmu", relay_only=True, stats_interval_s=5.0)
        if path != "naive":
            assert media.decode  # --rtc-decode-every 1: every call decoded
    finally:
        await media.close()
