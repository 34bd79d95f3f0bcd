"""DigitalOcean's Droplet sizes and storage prices, shipped as data with the date they were read.

``size_table()`` reads ``seawall/data/digitalocean-sizes.yaml`` once. The inventory turns a size slug
into what it means (vCPU, memory, disk, monthly price); capacity planning picks the smallest size that
fits. A slug missing from the table is not an error of the model (DigitalOcean adds sizes): it is shown
as unknown, and totals say they are incomplete.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml


@dataclass(frozen=True)
class Size:
    """One Droplet size: its slug, vCPUs, memory (MiB), disk (GB) and list price per month."""

    slug: str
    vcpus: int
    memory_mib: int
    disk_gb: int
    price_monthly: float

    @property
    def memory_gib(self) -> float:
        """Return the memory in GiB."""
        return self.memory_mib / 1024


@dataclass(frozen=True)
class SizeTable:
    """The sizes, the block-storage and Spaces prices, and when they were read."""

    as_of: str
    source: str
    currency: str
    volume_price_per_gb_month: float
    spaces_base_price_month: float
    spaces_included_gb: int
    spaces_price_per_gb_month: float
    sizes: dict[str, Size]

    def size(self, slug: str) -> Size | None:
        """Given a size slug, return its size, or None when the table does not know it."""
        return self.sizes.get(slug)

    def volume_price(self, size_gb: int) -> float:
        """Given a volume's size, return its monthly price."""
        return round(size_gb * self.volume_price_per_gb_month, 2)


@functools.cache
def size_table() -> SizeTable:
    """Return the shipped size table (read once)."""
    text = resources.files("seawall").joinpath("data", "digitalocean-sizes.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    spaces = data["spaces"]
    sizes = {
        item["slug"]: Size(item["slug"], item["vcpus"], item["memory"], item["disk"], float(item["price_monthly"]))
        for item in data["sizes"]
    }
    return SizeTable(
        str(data["as_of"]),
        data["source"],
        data["currency"],
        float(data["volume_price_per_gb_month"]),
        float(spaces["base_price_month"]),
        int(spaces["included_gb"]),
        float(spaces["price_per_gb_month"]),
        sizes,
    )
