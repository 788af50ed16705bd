package netpol

import (
	"net/netip"
	"slices"
)

// NodeExceptions are the addresses among nodes that the Internet mode must except besides
// the non-public ranges: the nodes' public addresses (a node's private ones are excepted
// already). A node answers on its own addresses with what no job may reach, however public
// the address: the kubelet, node ports, host-network agents. As single-address CIDRs, IPv4
// then IPv6, sorted and without duplicates; IPv4-mapped IPv6 addresses count as IPv4.
func NodeExceptions(nodes []netip.Addr) (v4, v6 []string) {
	nonPublic := map[bool][]netip.Prefix{true: prefixes(NonPublicIPv4()), false: prefixes(NonPublicIPv6())}
	var four, six []netip.Addr
	for _, a := range nodes {
		a = a.Unmap()
		if !a.IsValid() || a.IsLoopback() || a.IsUnspecified() || a.Zone() != "" {
			continue
		}
		if slices.ContainsFunc(nonPublic[a.Is4()], func(p netip.Prefix) bool { return p.Contains(a) }) {
			continue
		}
		if a.Is4() {
			four = append(four, a)
		} else {
			six = append(six, a)
		}
	}
	return singleAddressCIDRs(four), singleAddressCIDRs(six)
}

func prefixes(cidrs []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		out = append(out, netip.MustParsePrefix(c))
	}
	return out
}

func singleAddressCIDRs(addrs []netip.Addr) []string {
	slices.SortFunc(addrs, netip.Addr.Compare)
	addrs = slices.Compact(addrs)
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, netip.PrefixFrom(a, a.BitLen()).String())
	}
	return out
}
