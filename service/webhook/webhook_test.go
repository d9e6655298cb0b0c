package webhook

import (
	"context"
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"
)

// TestSignMatchesTheStandard checks Sign against the example of the
// Standard Webhooks specification.
func TestSignMatchesTheStandard(t *testing.T) {
	secret, err := base64.StdEncoding.DecodeString(strings.TrimPrefix("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", SecretPrefix))
	if err != nil {
		t.Fatal(err)
	}
	got := Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`), secret)
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	if two := Sign("m", 1, nil, secret, []byte("old")); len(strings.Split(two, " ")) != 2 {
		t.Errorf("two secrets sign %q, want two signatures", two)
	}
}

func TestAllowList(t *testing.T) {
	a, err := ParseAllowList("https://sms.example.gov.cn/hooks/, https://*.platform.example.cn/,http://127.0.0.1:9000/")
	if err != nil {
		t.Fatal(err)
	}
	for url, ok := range map[string]bool{
		"https://sms.example.gov.cn/hooks/banli":     true,
		"https://SMS.example.gov.cn:443/hooks/x":     true,
		"https://sms.example.gov.cn/other":           false,
		"http://sms.example.gov.cn/hooks/":           false, // not the allowed scheme
		"https://sms.example.gov.cn:8443/hooks/":     false, // nor port
		"https://a.platform.example.cn/x":            true,
		"https://platform.example.cn/x":              false,
		"https://evil.cn/?u=a.platform.example.cn":   false,
		"https://a.platform.example.cn.evil.cn/":     false,
		"http://127.0.0.1:9000/anything":             true,
		"http://127.0.0.1:9001/":                     false,
		"https://user:pw@sms.example.gov.cn/hooks/":  false,
		"ftp://sms.example.gov.cn/hooks/":            false,
		"https://sms.example.gov.cn/hooks/../../etc": true, // a path the receiver's server resolves; still that host
		"not a url": false,
	} {
		if err := a.Check(url); (err == nil) != ok {
			t.Errorf("Check(%q) = %v, want allowed %v", url, err, ok)
		}
	}
	for _, bad := range []string{"sms.example.gov.cn", "https://", "https://x/?q=1", "mailto:a@b"} {
		if _, err := ParseAllowList(bad); err == nil {
			t.Errorf("ParseAllowList(%q) accepted", bad)
		}
	}
	if empty, _ := ParseAllowList(" , "); !empty.Empty() {
		t.Error("an empty list allows something")
	}
}

// TestNamesMayNotReachInside: a name that resolves to loopback is refused
// at the dial, while the same address named by the URL is dialled.
func TestNamesMayNotReachInside(t *testing.T) {
	p := NewPoster()
	if _, err := p.checkedAddress(context.Background(), "localhost:80"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("localhost: %v, want refused as loopback", err)
	}
	if got, err := p.checkedAddress(context.Background(), "127.0.0.1:80"); err != nil || got != "127.0.0.1:80" {
		t.Errorf("127.0.0.1 named itself: %q, %v", got, err)
	}
	for ip, want := range map[string]string{"169.254.169.254": "link-local", "100.100.100.200": "cloud metadata", "::1": "loopback", "0.0.0.0": "unspecified", "10.1.2.3": ""} {
		if got := internal(mustAddr(t, ip)); got != want {
			t.Errorf("internal(%s) = %q, want %q", ip, got, want)
		}
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
