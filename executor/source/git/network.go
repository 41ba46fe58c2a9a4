package git

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/conveyorci/conveyor/internal/netguard"
)

// privateKind names why an address is not a public one ("" when it is public); netguard decides.
func privateKind(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case netguard.Public(a):
		return ""
	case a.IsLoopback():
		return "a loopback address"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return "a link-local address"
	case a.IsPrivate():
		return "a private address"
	}
	return "not a public address"
}

// ErrPrivateNetwork is wrapped by errors about hosts that resolve to non-public addresses.
var ErrPrivateNetwork = errors.New("private network address")

// resolve looks up host and checks every address it resolves to: a name with one private address
// among public ones is refused too (an attacker controlling DNS picks which one git uses).
func resolve(ctx context.Context, r *net.Resolver, host string, allowPrivate bool) ([]netip.Addr, error) {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if r == nil {
			r = net.DefaultResolver
		}
		found, err := r.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, &Error{Op: "resolve " + host, Err: err}
		}
		addrs = found
	}
	if len(addrs) == 0 {
		return nil, &Error{Op: "resolve " + host, Err: errors.New("no addresses")}
	}
	if !allowPrivate {
		for _, a := range addrs {
			if kind := privateKind(a); kind != "" {
				return nil, fmt.Errorf("host %s resolves to %s, %s: %w; Conveyor refuses loopback, private and link-local addresses unless the connection allows private networks (--allow-private-network)",
					host, a.Unmap(), kind, ErrPrivateNetwork)
			}
		}
	}
	return addrs, nil
}

// CheckHost applies the private-network rule to a URL's host now (connection creation). A host that
// does not resolve is not an error here: DNS may be down, and every fetch checks again.
func CheckHost(ctx context.Context, r *net.Resolver, u URL, allowPrivate bool) error {
	_, err := resolve(ctx, r, u.Host, allowPrivate)
	if err != nil && !errors.Is(err, ErrPrivateNetwork) {
		return nil
	}
	return err
}
