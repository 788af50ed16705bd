package netpol

// The Internet egress mode allows 0.0.0.0/0 and ::/0 except every range that is not the
// public internet: the ranges IANA's special-purpose registries mark not globally
// reachable, multicast, and public addresses that answer as part of the cloud rather than
// the internet. A network may route any of them to something of its own (the nodes, the
// cluster, company networks, a cloud's metadata and agents, a NAT's control port), and no
// job needs them to reach the internet.
//
// Not listed, because NetworkPolicies never see them: loopback (127.0.0.0/8, ::1) and the
// IPv6 unspecified address :: (Linux connects it to ::1), which never leave the pod.
// IPv4-mapped addresses (::ffff:0:0/96) leave a dual-stack socket as IPv4 packets, so the
// IPv4 list decides them; the API server also refuses that prefix as an exception of ::/0.

// NonPublicIPv4 are the IPv4 ranges the Internet egress mode excepts from 0.0.0.0/0.
func NonPublicIPv4() []string {
	return []string{
		"0.0.0.0/8",        // "this network": Linux connects 0.0.0.0 to the local host; recent kernels route the rest as unicast
		"10.0.0.0/8",       // RFC 1918: nodes, pods, services, company networks
		"172.16.0.0/12",    // RFC 1918
		"192.168.0.0/16",   // RFC 1918
		"100.64.0.0/10",    // RFC 6598 shared space (CGNAT): some clusters' pods, Alibaba Cloud's metadata 100.100.100.200
		"169.254.0.0/16",   // link-local: the metadata endpoint 169.254.169.254 (AWS, GCP, Azure IMDS, OCI, ...), NodeLocal DNSCache
		"192.0.0.0/24",     // IETF protocol assignments: DS-Lite, and PCP anycast 192.0.0.9, which asks the network's own NAT to open ports
		"192.0.2.0/24",     // documentation (TEST-NET-1), used as private space by some networks
		"198.18.0.0/15",    // benchmarking: private space in labs, appliances and some VPNs
		"198.51.100.0/24",  // documentation (TEST-NET-2)
		"203.0.113.0/24",   // documentation (TEST-NET-3)
		"224.0.0.0/4",      // multicast: discovery and routing protocols of the local network, never the internet
		"240.0.0.0/4",      // reserved (class E), with the broadcast address 255.255.255.255
		"168.63.129.16/32", // Azure's WireServer: public, but answers a pod as it answers the VM (agent, health probes, DNS)
	}
}

// NonPublicIPv6 are the IPv6 ranges the Internet egress mode excepts from ::/0.
func NonPublicIPv6() []string {
	return []string{
		"fc00::/7",       // unique local addresses, with AWS's metadata endpoint fd00:ec2::254
		"fe80::/10",      // link-local
		"fec0::/10",      // deprecated site-local, still private space in old networks
		"ff00::/8",       // multicast: as for IPv4
		"100::/64",       // discard-only (RFC 6666): a network's own black hole
		"100:0:0:1::/64", // IANA's dummy prefix, not globally reachable
		"2001::/23",      // IETF protocol assignments: Teredo, benchmarking 2001:2::/48, PCP anycast 2001:1::1 (as 192.0.0.9)
		"2001:db8::/32",  // documentation
		"2002::/16",      // 6to4: embeds an IPv4 address, which a 6to4 router reaches from inside its network
		"3fff::/20",      // documentation (RFC 9637)
		"5f00::/16",      // SRv6 segment identifiers (RFC 9602): routers' functions, e.g. decapsulation into a VPN
		"64:ff9b:1::/48", // local-use NAT64 (RFC 8215): translated to whatever the network chooses
		// The IPv4 exceptions above through the well-known NAT64 prefix 64:ff9b::/96, in their
		// order (e.g. 64:ff9b::a9fe:a9fe is 169.254.169.254), so an IPv6-only cluster's NAT64
		// gateway is no way around them; public IPv4 stays reachable through it.
		"64:ff9b::/104",          // 0.0.0.0/8
		"64:ff9b::a00:0/104",     // 10.0.0.0/8
		"64:ff9b::ac10:0/108",    // 172.16.0.0/12
		"64:ff9b::c0a8:0/112",    // 192.168.0.0/16
		"64:ff9b::6440:0/106",    // 100.64.0.0/10
		"64:ff9b::a9fe:0/112",    // 169.254.0.0/16
		"64:ff9b::c000:0/120",    // 192.0.0.0/24
		"64:ff9b::c000:200/120",  // 192.0.2.0/24
		"64:ff9b::c612:0/111",    // 198.18.0.0/15
		"64:ff9b::c633:6400/120", // 198.51.100.0/24
		"64:ff9b::cb00:7100/120", // 203.0.113.0/24
		"64:ff9b::e000:0/100",    // 224.0.0.0/4
		"64:ff9b::f000:0/100",    // 240.0.0.0/4
		"64:ff9b::a83f:8110/128", // 168.63.129.16
	}
}
