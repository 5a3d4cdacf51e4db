"""What counts as one client address for the per-address limits.

:func:`address_key` maps a peer's IP to the key its sessions and handshakes are counted
under.  Promises:

* An IPv4 address is its own key (``"192.0.2.7"``).
* An IPv4-mapped IPv6 address (``::ffff:192.0.2.7``, what a dual-stack socket reports
  for IPv4 clients) counts as that IPv4 address.
* Any other IPv6 address counts as its /``prefix`` network (default
  :data:`server.limits.IPV6_PREFIX_BITS`, a /64: one customer's LAN, where one host can
  pick any of 2**64 addresses), written ``"2001:db8:1:2::/64"``; a zone (``%eth0``) is
  ignored.
* Anything that is not an IP address (a Unix socket, a proxy header with garbage) is
  its own key, unchanged.
"""

from __future__ import annotations

import ipaddress

from server.limits import IPV6_PREFIX_BITS


def address_key(address: str, *, ipv6_prefix_bits: int = IPV6_PREFIX_BITS) -> str:
    """The key ``address`` is counted under by the per-address limits (see module docstring)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, ipv6_prefix_bits), strict=False))
    return str(ip)
