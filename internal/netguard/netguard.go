// Package netguard keeps Conveyor's outgoing requests (notification webhooks) away from addresses
// a user-supplied URL must not reach unless an admin allowed it: loopback, link-local (cloud
// metadata), private and other non-public ranges. The check runs on the address actually dialled,
// after DNS resolution, so a name that resolves (or re-resolves) to a private address is refused
// too.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrForbidden is wrapped by every refusal.
var ErrForbidden = errors.New("address not allowed")

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"), // link-local, cloud metadata
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// Public reports whether an address is a public unicast address.
func Public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// CheckURL checks a URL's shape (http or https, a host, no credentials in it) and, when its host is
// a literal address, that the address is public unless allowPrivate.
func CheckURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("the URL must start with https:// or http://")
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("the URL has no host")
	}
	if u.User != nil {
		return fmt.Errorf("the URL must not carry a user name or password")
	}
	if allowPrivate {
		return nil
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return fmt.Errorf("%s is a loopback name: %w (allow private addresses for this target to use it)", host, ErrForbidden)
	}
	if a, err := netip.ParseAddr(host); err == nil && !Public(a) {
		return fmt.Errorf("%s is not a public address: %w (allow private addresses for this target to use it)", host, ErrForbidden)
	}
	return nil
}

// Dialer returns a dialer that refuses non-public addresses unless allowPrivate.
func Dialer(allowPrivate bool, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dial %s: %w", address, ErrForbidden)
			}
			if !Public(ap.Addr()) {
				return fmt.Errorf("%s is not a public address: %w", ap.Addr(), ErrForbidden)
			}
			return nil
		}
	}
	return d
}

// Client returns an HTTP client whose connections obey the rule, ignore proxy settings (a proxy
// would be dialled instead of the target) and do not follow redirects (a redirect could point
// anywhere; it is reported as the response it is).
func Client(allowPrivate bool, timeout time.Duration) *http.Client {
	d := Dialer(allowPrivate, timeout)
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
