/** Which addresses the outbound guard lets through: public unicast only, every special range refused. */
import { describe, expect, it } from "vitest";
import { addressRange, isPublicAddress } from "../../lib/outbound/addresses";

describe("outbound address classification", () => {
	it.each([
		["8.8.8.8"],
		["1.1.1.1"],
		["93.184.216.34"],
		["2606:4700:4700::1111"],
		["2001:4860:4860::8888"],
		["::ffff:8.8.8.8"],
	])("lets the public address %s through", (address) => {
		expect(addressRange(address)).toBe("unicast");
		expect(isPublicAddress(address)).toBe(true);
	});

	it.each([
		["127.0.0.1", "loopback"],
		["127.255.255.254", "loopback"],
		["10.1.2.3", "private"],
		["172.16.0.1", "private"],
		["172.31.255.255", "private"],
		["192.168.1.1", "private"],
		["169.254.169.254", "linkLocal"],
		["100.64.0.1", "carrierGradeNat"],
		["100.127.255.254", "carrierGradeNat"],
		["224.0.0.1", "multicast"],
		["239.255.255.250", "multicast"],
		["0.0.0.0", "unspecified"],
		["0.1.2.3", "unspecified"],
		["255.255.255.255", "broadcast"],
		["192.0.2.10", "reserved"],
		["198.18.0.1", "reserved"],
		["240.0.0.1", "reserved"],
		["::1", "loopback"],
		["[::1]", "loopback"],
		["::", "unspecified"],
		["fe80::1", "linkLocal"],
		["fc00::1", "uniqueLocal"],
		["fd12:3456:789a::1", "uniqueLocal"],
		["ff02::1", "multicast"],
		["::ffff:127.0.0.1", "ipv4Mapped:loopback"],
		["::ffff:7f00:1", "ipv4Mapped:loopback"],
		["::ffff:10.0.0.1", "ipv4Mapped:private"],
		["::ffff:169.254.169.254", "ipv4Mapped:linkLocal"],
		["64:ff9b::7f00:1", "rfc6052"],
		["2002:7f00:1::1", "6to4"],
		["2001:db8::1", "reserved"],
		// IPv4-compatible (deprecated) and unassigned space outside 2000::/3.
		["::7f00:1", "reserved"],
		["4000::1", "reserved"],
	])("refuses %s (%s)", (address, range) => {
		expect(addressRange(address)).toBe(range);
		expect(isPublicAddress(address)).toBe(false);
	});

	it.each([["localhost"], ["0x7f.0.0.1"], ["2130706433"], ["017700000001"], ["127.1"], [""], ["1.2.3.4.5"]])("does not read %s as an address", (value) => {
		expect(addressRange(value)).toBe("invalid");
		expect(isPublicAddress(value)).toBe(false);
	});
});
