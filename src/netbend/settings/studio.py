"""The settings of `netbend studio`: where it listens, who may use it, where its work goes."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from ..errors import NetbendError
from .declare import Names, at_least, check_fields, same_as, setting
from .generation import Generation

AUTH_ENV = "NETBEND_STUDIO_AUTH"  # USER:PASSWORD, instead of --auth on a shared machine's command line


def _check_port(value: int, label: str) -> None:
    if not 1 <= value <= 65535:
        raise NetbendError(f"{label} must be a port number in 1..65535, got {value}")


def _check_auth(value: str, label: str) -> None:
    user, sep, password = value.partition(":")
    if not (sep and user and password):
        raise NetbendError(f"{label} must be USER:PASSWORD")


@dataclass(frozen=True)
class StudioJob:
    """A studio server: a browser app over the same library as the command line."""

    host: str = setting("127.0.0.1", help="address to listen on; any other than the loopback needs --auth")
    port: int = setting(7860, check=_check_port, help="port to listen on")
    model: str = same_as(Generation, "model", help="the model a new session starts with")
    frames_root: str = setting("netbend-studio", path=True, metavar="DIR",
                               help="where uploads, previews, renders and their frames go; the studio reads and "
                                    "writes nothing outside it")
    auth: str | None = setting(None, check=_check_auth, metavar="USER:PASSWORD",
                               help=f"log-in for the page (or the environment variable {AUTH_ENV})")
    max_upload_mb: int = setting(500, check=at_least(1), metavar="MB", help="largest file an upload may be")

    def credentials(self) -> tuple[str, str] | None:
        """(user, password) from --auth or the environment, or None."""
        text = self.auth or os.environ.get(AUTH_ENV)
        if not text:
            return None
        _check_auth(text, AUTH_ENV if not self.auth else "--auth")
        user, _, password = text.partition(":")
        return user, password

    def check(self) -> None:
        check_fields(self, Names())
        if not is_loopback(self.host) and self.credentials() is None:
            raise NetbendError(f"--host {self.host} lets other machines in: give --auth USER:PASSWORD (or set "
                               f"{AUTH_ENV}); the studio refuses to start open")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
