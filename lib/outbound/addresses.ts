/**
 * Which IP addresses outbound requests may reach. Allow by default only what is publicly routable: IPv4
 * global unicast, and IPv6 global unicast (2000::/3). Everything else is refused, named by its range:
 * private (RFC 1918), loopback, link-local (cloud metadata lives at 169.254.169.254), unique-local,
 * carrier-grade NAT, multicast, broadcast, unspecified, reserved and documentation ranges, and IPv6 forms
 * that embed an IPv4 address (mapped, NAT64, 6to4, Teredo), which would otherwise smuggle 127.0.0.1 past an
 * IPv4-only check.
 *
 * The ranges come from ipaddr.js, which tracks IANA's special-purpose address registries; a hand-written
 * list of CIDRs is where SSRF guards usually go wrong (a forgotten 0.0.0.0/8 or ::ffff:0:0/96).
 */
import net from "node:net";
import ipaddr from "ipaddr.js";

const IPV6_GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR("2000::/3");

/** "unicast" for a public address; otherwise the name of the range that makes it non-public. */
export function addressRange(address: string): string {
	const bare = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
	// net.isIP accepts only canonical forms; ipaddr.js alone would also read "0x7f.1" or "017700000001".
	if (net.isIP(bare) === 0) return "invalid";
	const parsed = ipaddr.parse(bare);
	if (parsed.kind() === "ipv4") return (parsed as ipaddr.IPv4).range();
	const v6 = parsed as ipaddr.IPv6;
	if (v6.isIPv4MappedAddress()) {
		const inner = v6.toIPv4Address().range();
		return inner === "unicast" ? "unicast" : `ipv4Mapped:${inner}`;
	}
	const range = v6.range();
	if (range !== "unicast") return range;
	// What ipaddr.js calls unicast still includes ::/96 (IPv4-compatible) and unassigned space.
	return v6.match(IPV6_GLOBAL_UNICAST) ? "unicast" : "reserved";
}

export function isPublicAddress(address: string): boolean {
	return addressRange(address) === "unicast";
}
