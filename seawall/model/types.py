"""Reusable validated types for the environment model.

Each is an annotated alias: a plain Python type plus the check that makes it one of ours. Messages
never repeat the value for fields that could hold a secret; these types are for non-secret fields.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import unicodedata
import zoneinfo
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer

from seawall.model.calendar import CalendarError, longest_interval, parse_calendar

Tier = Literal["development", "staging", "production"]
Severity = Literal["Critical", "Major", "Minor"]
SEVERITIES: tuple[Severity, ...] = ("Critical", "Major", "Minor")

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]{3}[0-9]$")
_SIZE = re.compile(r"^[a-z][a-z0-9_]*(-[a-z0-9_]+)+$")
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_BRANCHES = {"latest", "main", "master", "develop", "development", "dev", "trunk", "head", "edge", "nightly"}
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_SLACK = re.compile(r"^#[a-z0-9][a-z0-9._-]{0,79}$")
_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_SSH_KEY = re.compile(r"^([0-9a-f]{2}(:[0-9a-f]{2}){15}|\d{1,12})$")
_ENV_VAR = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# A GitHub account or team (``ops-alice``, ``@acme/ops``): who owns a service and whom it escalates to.
_OWNER = re.compile(r"^@?[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9][A-Za-z0-9_.-]{0,99})?$")
_UNIT = re.compile(r"^[A-Za-z0-9:_.@-]+\.(service|timer|socket|mount|target|path)$")
_WEEKTIME = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (([01]\d|2[0-3]):[0-5]\d|24:00)$")
DURATION_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
MAX_DURATION_SECONDS = 100 * 366 * 86400


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        msg = "must be 2-40 characters of lowercase letters, digits and dashes, starting with a letter"
        raise ValueError(msg)
    return value


def _check_cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        msg = f"{value!r} is not a CIDR network ({exc})"
        raise ValueError(msg) from None
    return str(network)


_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def _check_vpc_cidr(value: str) -> str:
    network = ipaddress.ip_network(_check_cidr(value))
    if network.version != 4 or not any(network.subnet_of(block) for block in _RFC1918):  # type: ignore[arg-type]
        msg = f"{value!r} is not a private IPv4 range (RFC 1918: 10/8, 172.16/12, 192.168/16), as a VPC needs"
        raise ValueError(msg)
    if not 16 <= network.prefixlen <= 28:
        msg = f"{value!r} is a /{network.prefixlen}: DigitalOcean VPC ranges are /16 to /28"
        raise ValueError(msg)
    return str(network)


def _check_port_range(value: str) -> str:
    if value == "all":
        return value
    low, _, high = value.partition("-")
    first, last = int(low), int(high or low)
    if not (1 <= first <= 65535 and 1 <= last <= 65535):
        msg = f"{value!r}: ports are 1 to 65535"
        raise ValueError(msg)
    if first > last:
        msg = f"{value!r}: the range runs backwards (write {last}-{first})"
        raise ValueError(msg)
    return value


SHELL_OPERATORS = ("|", "||", "&&", ";", "&", ">", ">>", "<", "<<", "2>", "2>&1")


def split_command(value: str) -> list[str]:
    """Given a hook or check command, return its words as a shell would split them (no shell runs it),
    or raise ValueError when it cannot be split or is empty."""
    import shlex

    try:
        words = shlex.split(value)
    except ValueError as exc:
        msg = f"{value!r} cannot be split into words ({exc}): hooks run without a shell"
        raise ValueError(msg) from None
    if not words:
        msg = "an empty command"
        raise ValueError(msg)
    return words


def _check_hook(value: str) -> str:
    words = split_command(value)
    operators = [word for word in words if word in SHELL_OPERATORS or "$(" in word or "`" in word]
    if operators:
        msg = (
            f"{value!r} uses {', '.join(repr(o) for o in operators)}, which only a shell understands; hooks run "
            "without one: write `sh -c '…'` when you need it"
        )
        raise ValueError(msg)
    return value


def _check_region(value: str) -> str:
    if not _REGION.match(value):
        msg = f"{value!r} is not a DigitalOcean region slug (like ams3, nyc1, fra1)"
        raise ValueError(msg)
    return value


def _check_size(value: str) -> str:
    if not _SIZE.match(value):
        msg = f"{value!r} is not a DigitalOcean size slug (like s-2vcpu-4gb)"
        raise ValueError(msg)
    return value


def _check_image(value: str) -> str:
    if not _IMAGE.match(value):
        msg = f"{value!r} is not an image slug (like ubuntu-24-04-x64)"
        raise ValueError(msg)
    return value


def is_branch_like(version: str) -> bool:
    """Given a version, return whether it names a moving target (a branch or ``latest``)."""
    lowered = version.lower()
    return lowered in _BRANCHES or "/" in version or lowered.startswith(("feature-", "fix-", "release-"))


def _check_version(value: str) -> str:
    text = str(value)
    if _SEMVER.match(text) or _IMAGE_TAG.match(text):
        return text
    msg = f"{text!r} is neither a semantic version nor an image tag"
    raise ValueError(msg)


def _check_hostname(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+", value):
        # No top-level domain is all digits: dotted numbers are a mistyped address, never a name.
        msg = f"{value!r} is not an IP address (four numbers of 0 to 255, like 192.0.2.10)"
        raise ValueError(msg)
    if not _HOSTNAME.match(value):
        msg = f"{value!r} is not a hostname or an IP address"
        raise ValueError(msg)
    return value.lower()


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        msg = f"{value!r} is not an email address"
        raise ValueError(msg)
    return value


def _check_slack(value: str) -> str:
    if not _SLACK.match(value):
        msg = f"{value!r} is not a Slack channel (like #ops-alerts)"
        raise ValueError(msg)
    return value


def parse_duration(value: object) -> dt.timedelta:
    """Given ``26h``, ``7d``, ``1h30m`` or a timedelta, return the timedelta."""
    if isinstance(value, dt.timedelta):
        return value
    text = str(value).strip()
    match = _DURATION.match(text)
    if not text or not match or not any(match.groups()):
        msg = f"{text!r} is not a duration (like 30m, 26h, 7d, 1h30m)"
        raise ValueError(msg)
    if any(len(part or "") > 9 for part in match.groups()):
        msg = f"{text[:40]!r} is longer than a duration Seawall works with (at most 100 years)"
        raise ValueError(msg)
    seconds = sum(int(part or 0) * unit for part, (_, unit) in zip(match.groups(), DURATION_UNITS, strict=True))
    if seconds > MAX_DURATION_SECONDS:
        msg = f"{text!r} is longer than a duration Seawall works with (at most 100 years)"
        raise ValueError(msg)
    if seconds <= 0:
        msg = "a duration must be longer than zero"
        raise ValueError(msg)
    return dt.timedelta(seconds=seconds)


def format_duration(value: dt.timedelta) -> str:
    """Given a timedelta, return its shortest text form (``26h``, ``1h30m``)."""
    remaining = int(value.total_seconds())
    parts = []
    for suffix, unit in DURATION_UNITS:
        count, remaining = divmod(remaining, unit)
        if count:
            parts.append(f"{count}{suffix}")
    return "".join(parts) or "0s"


def _check_calendar(value: str) -> str:
    try:
        longest_interval(parse_calendar(value))
    except CalendarError as exc:
        msg = f"{value!r} is not a repeating systemd calendar expression: {exc}"
        raise ValueError(msg) from None
    return " ".join(value.split())


def _check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        msg = f"{value!r} is not an IANA time zone (like Europe/Brussels)"
        raise ValueError(msg) from None
    return value


def _check_ssh_key(value: object) -> str:
    text = str(value)
    if not _SSH_KEY.match(text):
        msg = "must be an SSH key fingerprint (aa:bb:…, 16 pairs) or a numeric DigitalOcean key id"
        raise ValueError(msg)
    return text


def _check_env_var(value: str) -> str:
    if not _ENV_VAR.match(value):
        # Never the value: a secret pasted where its variable's name belongs must not be echoed.
        msg = "is not an environment variable name (UPPER_CASE letters, digits and _; the value is not shown)"
        raise ValueError(msg)
    return value


def _check_weektime(value: str) -> str:
    if not _WEEKTIME.match(value):
        msg = f"{value!r} is not a weekday and time (like 'Thu 00:00' or 'Sun 24:00')"
        raise ValueError(msg)
    return value


_CLOCK = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _check_clock_time(value: str) -> str:
    if not _CLOCK.match(value):
        msg = f"{value!r} is not a time of day (like '09:00' or '24:00')"
        raise ValueError(msg)
    return value


def _check_owner(value: str) -> str:
    if not _OWNER.match(value):
        msg = "must be a GitHub account or team (ops-alice, @acme/ops-circle)"
        raise ValueError(msg)
    return value if value.startswith("@") else f"@{value}"


def _check_unit(value: str) -> str:
    if not _UNIT.match(value):
        msg = "must be a systemd unit name with its type (postgresql.service, nginx.service)"
        raise ValueError(msg)
    return value


def _check_not_blank(value: str) -> str:
    if not value.strip():
        msg = "must not be empty: say why"
        raise ValueError(msg)
    return value.strip()


def _check_path(value: str) -> str:
    if any(unicodedata.category(character) == "Cc" for character in value):
        shown = value.encode("unicode_escape").decode()
        msg = f"'{shown}' holds a control character (a tab, a line break, an escape): no real path has one"
        raise ValueError(msg)
    return value


def _check_abs_path(value: str) -> str:
    _check_path(value)
    if not value.startswith("/"):
        msg = f"{value!r} is not an absolute path"
        raise ValueError(msg)
    return value


# Where a volume never goes: mounted there it hides the operating system's own files.
SYSTEM_FOLDERS = frozenset(
    ("/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/root", "/run", "/sbin", "/sys",
     "/usr", "/var", "/var/lib")
)  # fmt: skip


def _check_mount(value: str) -> str:
    _check_abs_path(value)
    parts = value.split("/")[1:]
    if any(part in ("", ".", "..") for part in parts) and value != "/":
        msg = f"{value!r} is not a plain mount point: write it without '.', '..', '//' or a trailing '/'"
        raise ValueError(msg)
    if value in SYSTEM_FOLDERS:
        msg = (
            f"a volume mounted at {value} hides the system's own files there: mount it in a folder of its own "
            "(like /srv/data)"
        )
        raise ValueError(msg)
    return value


DRILL_PLACEHOLDERS = ("restore", "path")


def _check_drill_check(value: str) -> str:
    _check_hook(value)
    unknown = sorted(set(re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", value)) - set(DRILL_PLACEHOLDERS))
    if unknown:
        known = " and ".join("{" + name + "}" for name in DRILL_PLACEHOLDERS)
        msg = f"{{{unknown[0]}}} is not a placeholder of drill checks (they know {known})"
        raise ValueError(msg)
    return value


# A URL or path as RFC 3986 writes it (anything else percent-encoded): no space, quote, brace or control
# character, so it goes into Prometheus's annotation templates and Markdown links as it is.
_URL_TEXT = re.compile(r"^[A-Za-z0-9._~:/?#\[\]@!$&()*+,;=%-]+$")


def _check_runbook_url(value: str) -> str:
    if not _URL_TEXT.match(value):
        shown = value.encode("unicode_escape").decode()
        msg = (
            f"'{shown}' is not a URL or path as written in a link: percent-encode spaces, quotes, braces and "
            "other characters (a brace would open a template in every alert's annotations)"
        )
        raise ValueError(msg)
    return value


def _port_as_written(value: object) -> object:
    # `ports: 443` reads as a number; a port, like a range, is the text as written.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Name = Annotated[str, AfterValidator(_check_name)]
Cidr = Annotated[str, AfterValidator(_check_cidr)]
VpcCidr = Annotated[str, AfterValidator(_check_vpc_cidr)]
PortRange = Annotated[
    str,
    BeforeValidator(_port_as_written),
    Field(pattern=r"^(all|\d{1,5}(-\d{1,5})?)$"),
    AfterValidator(_check_port_range),
]
HookCommand = Annotated[str, AfterValidator(_check_hook)]
DrillCheck = Annotated[str, AfterValidator(_check_drill_check)]
# A path as the model writes one (absolute or relative to the project): no control character.
PathText = Annotated[str, Field(min_length=1), AfterValidator(_check_path)]
MountPoint = Annotated[str, AfterValidator(_check_mount)]
RunbookUrl = Annotated[str, AfterValidator(_check_runbook_url)]
Region = Annotated[str, AfterValidator(_check_region)]
SizeSlug = Annotated[str, AfterValidator(_check_size)]
ImageSlug = Annotated[str, AfterValidator(_check_image)]


def _version_as_written(value: object) -> object:
    if isinstance(value, bool | float):
        msg = f"write the version in quotes ('{value}' is how YAML read it, which may not be what you wrote)"
        raise ValueError(msg)
    return str(value) if isinstance(value, int) else value


Version = Annotated[str, BeforeValidator(_version_as_written), AfterValidator(_check_version)]
Hostname = Annotated[str, AfterValidator(_check_hostname)]
Email = Annotated[str, AfterValidator(_check_email)]
SlackChannel = Annotated[str, AfterValidator(_check_slack)]
Duration = Annotated[dt.timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]
OnCalendar = Annotated[str, AfterValidator(_check_calendar)]
TimeZone = Annotated[str, AfterValidator(_check_timezone)]
SshKeyRef = Annotated[str, BeforeValidator(_check_ssh_key)]
EnvVarName = Annotated[str, AfterValidator(_check_env_var)]
WeekTime = Annotated[str, AfterValidator(_check_weektime)]
ClockTime = Annotated[str, AfterValidator(_check_clock_time)]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
AbsPath = Annotated[str, AfterValidator(_check_abs_path)]
Reason = Annotated[str, AfterValidator(_check_not_blank)]
# A GitHub account or team, always written with its ``@``.
Owner = Annotated[str, AfterValidator(_check_owner)]
SystemdUnit = Annotated[str, AfterValidator(_check_unit)]
PortNumber = Annotated[int, Field(strict=True, ge=1, le=65535)]
Percent = Annotated[int, Field(strict=True, ge=1, le=100)]
