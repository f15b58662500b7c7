"""dialogParams: the call-options object the SDK sends with every call request.

The SDK renames six keys on the wire and keeps the telnyx ids camelCase; this module is the one
place that knows those names, for both the client (building) and the emulator (reading).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TelnyxIds:
    """Ids the platform hands out in ringing/answer/invite; echoed back in later dialogParams."""

    call_control_id: str | None = None
    session_id: str | None = None
    leg_id: str | None = None

    def update_from_server(self, params: dict[str, Any]) -> None:
        """Copy the snake_case ids a server frame carries (absent keys keep their value)."""
        self.call_control_id = params.get("telnyx_call_control_id", self.call_control_id)
        self.session_id = params.get("telnyx_session_id", self.session_id)
        self.leg_id = params.get("telnyx_leg_id", self.leg_id)

    def server_fields(self) -> dict[str, str]:
        """The snake_case form a server puts in its frames."""
        out: dict[str, str] = {}
        if self.call_control_id is not None:
            out["telnyx_call_control_id"] = self.call_control_id
        if self.session_id is not None:
            out["telnyx_session_id"] = self.session_id
        if self.leg_id is not None:
            out["telnyx_leg_id"] = self.leg_id
        return out


@dataclass
class DialogParams:
    call_id: str
    destination_number: str = ""
    caller_id_name: str = ""
    caller_id_number: str = ""
    remote_caller_id_name: str = "Outbound Call"
    remote_caller_id_number: str = ""
    custom_headers: list[dict[str, str]] = field(default_factory=list)
    user_variables: dict[str, Any] = field(default_factory=dict)
    ice_server_urls: list[str] = field(default_factory=list)
    telnyx: TelnyxIds = field(default_factory=TelnyxIds)
    attach: bool = False
    trickle_ice: bool = False
    client_state: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """Keys in the order the official SDK sends them (traces/signaling_canon.jsonl)."""
        out: dict[str, Any] = {
            "audio": True,
            "useStereo": False,
            "attach": self.attach,
            "screenShare": False,
            "userVariables": dict(self.user_variables),
            "mediaSettings": {"useSdpASBandwidthKbps": False, "sdpASBandwidthKbps": 0},
            "prefetchIceCandidates": False,
            "video": False,
            # The SDK echoes its whole iceServers array, TURN credentials included; rtcload sends
            # only the URLs so a credential never travels further than it must.
            "iceServers": [{"urls": url} for url in self.ice_server_urls],
        }
        if self.trickle_ice:
            out["trickleIce"] = True
        if self.telnyx.call_control_id is not None:
            out["telnyxCallControlId"] = self.telnyx.call_control_id
        if self.telnyx.session_id is not None:
            out["telnyxSessionId"] = self.telnyx.session_id
        if self.telnyx.leg_id is not None:
            out["telnyxLegId"] = self.telnyx.leg_id
        out.update(
            {
                "callID": self.call_id,
                "destination_number": self.destination_number,
                "remote_caller_id_name": self.remote_caller_id_name,
                "remote_caller_id_number": self.remote_caller_id_number,
                "caller_id_name": self.caller_id_name,
                "caller_id_number": self.caller_id_number,
                "custom_headers": list(self.custom_headers),
            }
        )
        if self.client_state is not None:
            out["clientState"] = self.client_state
        return out


def call_id_of(params: dict[str, Any]) -> str | None:
    """The callID a frame refers to: `params.callID` (server frames) or `params.dialogParams.callID`."""
    call_id = params.get("callID")
    if isinstance(call_id, str) and call_id:
        return call_id
    dialog = params.get("dialogParams")
    if isinstance(dialog, dict):
        nested = dialog.get("callID")
        if isinstance(nested, str) and nested:
            return nested
    return None


def custom_headers_of(params: dict[str, Any]) -> list[dict[str, str]]:
    """Custom headers from either spelling (the SDK reads camelCase on bye, snake_case elsewhere)."""
    dialog = params.get("dialogParams")
    if not isinstance(dialog, dict):
        return []
    headers = dialog.get("custom_headers", dialog.get("customHeaders", []))
    if not isinstance(headers, list):
        return []
    return [h for h in headers if isinstance(h, dict) and "name" in h]
