package netpol

// NonPublicIPv4 are the IPv4 ranges the Internet egress mode excepts from 0.0.0.0/0:
// RFC 1918 private networks (where nodes, pods, services and company networks usually
// live), RFC 6598 shared address space (CGNAT, used by some clusters for pods, and holding
// Alibaba Cloud's metadata server 100.100.100.200) and RFC 3927 link-local (the cloud
// metadata endpoint 169.254.169.254 of AWS, GCP, Azure and others, and NodeLocal
// DNSCache). Also "this network" 0.0.0.0/8 (Linux connects 0.0.0.0 to the host itself),
// the benchmarking range 198.18.0.0/15 (used by labs, appliances and some VPNs as private
// space), the reserved 240.0.0.0/4 with the broadcast address, and Azure's WireServer
// 168.63.129.16, a public address every Azure VM reaches for its agent and DNS, which answers
// a pod as it answers the node. Loopback needs no entry: NetworkPolicies never see it.
func NonPublicIPv4() []string {
	return []string{
		"0.0.0.0/8",
		"10.0.0.0/8",
		"172.16.0.0/12",
		"192.168.0.0/16",
		"100.64.0.0/10",
		"169.254.0.0/16",
		"198.18.0.0/15",
		"240.0.0.0/4",
		"168.63.129.16/32",
	}
}

// NonPublicIPv6 are the IPv6 ranges the Internet egress mode excepts from ::/0: unique
// local addresses (fc00::/7, which holds AWS's IPv6 metadata endpoint fd00:ec2::254),
// link-local (fe80::/10), the deprecated site-local range (fec0::/10), the local-use NAT64
// prefix (64:ff9b:1::/48, RFC 8215), and the IPv4 ranges above as reached through the
// well-known NAT64 prefix 64:ff9b::/96 (e.g. 64:ff9b::a9fe:a9fe is 169.254.169.254), so an
// IPv6-only cluster's NAT64 gateway is no way around the IPv4 exceptions.
func NonPublicIPv6() []string {
	return []string{
		"fc00::/7",
		"fe80::/10",
		"fec0::/10",
		"64:ff9b:1::/48",
		// The IPv4 exceptions above, in their order:
		"64:ff9b::/104",          // 0.0.0.0/8
		"64:ff9b::a00:0/104",     // 10.0.0.0/8
		"64:ff9b::ac10:0/108",    // 172.16.0.0/12
		"64:ff9b::c0a8:0/112",    // 192.168.0.0/16
		"64:ff9b::6440:0/106",    // 100.64.0.0/10
		"64:ff9b::a9fe:0/112",    // 169.254.0.0/16
		"64:ff9b::c612:0/111",    // 198.18.0.0/15
		"64:ff9b::f000:0/100",    // 240.0.0.0/4
		"64:ff9b::a83f:8110/128", // 168.63.129.16
	}
}
