package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true, "127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.20.0.1": false,
		"192.168.1.1": false, "169.254.169.254": false, "fe80::1": false, "fd00::1": false, "100.64.0.1": false, "0.0.0.0": false,
		"::ffff:127.0.0.1": false, "224.0.0.1": false,
	} {
		if got := Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://hooks.example.com/x": true, "http://8.8.8.8/": true, "ftp://example.com": false, "https://": false,
		"http://127.0.0.1:8080/": false, "http://[::1]/": false, "http://localhost/": false, "http://api.localhost/": false,
		"https://u:p@example.com/": false, "http://10.0.0.5/": false,
	} {
		if err := CheckURL(raw, false); (err == nil) != ok {
			t.Errorf("CheckURL(%q) = %v, want ok=%v", raw, err, ok)
		}
	}
	if err := CheckURL("http://127.0.0.1:8080/", true); err != nil {
		t.Errorf("allowed private: %v", err)
	}
}

// The dialer checks the address it connects to, so a name that resolves to loopback is refused
// as surely as a literal one.
func TestClientRefusesPrivateAddressesAtConnectTime(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	_, err := Client(false, 2*time.Second).Get("http://localhost:" + port + "/")
	if !errors.Is(err, ErrForbidden) {
		t.Fatalf("GET localhost: %v, want ErrForbidden", err)
	}
	resp, err := Client(true, 2*time.Second).Get(srv.URL)
	if err != nil {
		t.Fatalf("allowed: %v", err)
	}
	resp.Body.Close()
	if _, err := Dialer(false, time.Second).DialContext(context.Background(), "tcp", srv.Listener.Addr().String()); !errors.Is(err, ErrForbidden) {
		t.Fatalf("dial: %v", err)
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data", http.StatusFound)
	}))
	defer srv.Close()
	resp, err := Client(true, 2*time.Second).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d: a redirect must be reported, not followed", resp.StatusCode)
	}
}
