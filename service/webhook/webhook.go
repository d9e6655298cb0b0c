// Package webhook posts deliveries to the URLs the operator allows, signed
// as Standard Webhooks has it: the outbound half of the service's
// webhooks, without the service's state. service decides what to deliver
// and when; this package decides whether a URL may be used, and posts.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix begins a secret as it is shown (Standard Webhooks' whsec_).
const SecretPrefix = "whsec_"

// Timeouts and caps of one attempt.
const (
	// Timeout bounds an attempt, from the dial to the end of the answer.
	Timeout = 10 * time.Second
	// MaxAnswerBytes caps what is read of a receiver's answer: it is
	// drained for the connection's reuse, never kept.
	MaxAnswerBytes = 64 << 10
)

// ErrNotAllowed: a well-formed URL that no entry of the allow-list admits.
var ErrNotAllowed = errors.New("is not within the URLs the operator allows (-webhook-allow)")

// AllowList is the operator's list of URL prefixes webhooks may post to.
type AllowList struct {
	entries []prefix
}

type prefix struct {
	scheme string
	// host is lowercase; "*.example.gov.cn" matches its subdomains.
	host string
	port string
	path string
}

// ParseAllowList reads the -webhook-allow list: URL prefixes such as
// "https://sms.example.gov.cn/hooks/" or "https://*.example.gov.cn/",
// separated by commas. An empty list allows nothing.
func ParseAllowList(list string) (AllowList, error) {
	var a AllowList
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		u, err := url.Parse(entry)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return AllowList{}, fmt.Errorf("webhook allow-list entry %q: want an http or https URL prefix without user, query or fragment, e.g. https://sms.example.gov.cn/hooks/", entry)
		}
		a.entries = append(a.entries, prefix{scheme: u.Scheme, host: strings.ToLower(u.Hostname()), port: portOf(u), path: u.EscapedPath()})
	}
	return a, nil
}

// Empty reports whether the list allows nothing.
func (a AllowList) Empty() bool { return len(a.entries) == 0 }

// Check returns why raw may not be a webhook's URL, or nil.
func (a AllowList) Check(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return errors.New("must be an https (or allowed http) URL")
	case u.Host == "" || u.Opaque != "":
		return errors.New("must name a host")
	case u.User != nil:
		return errors.New("must not carry a user or password")
	case u.Fragment != "":
		return errors.New("must not carry a fragment")
	}
	host := strings.ToLower(u.Hostname())
	for _, p := range a.entries {
		if p.scheme == u.Scheme && hostMatches(p.host, host) && p.port == portOf(u) && strings.HasPrefix(u.EscapedPath(), p.path) {
			return nil
		}
	}
	return ErrNotAllowed
}

func hostMatches(pattern, host string) bool {
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(host, "."+rest)
	}
	return pattern == host
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "http" {
		return "80"
	}
	return "443"
}

// Sign is the webhook-signature header for one attempt: "v1," and the
// base64 HMAC-SHA256 of id.timestamp.body under each secret, separated by
// spaces.
func Sign(id string, timestamp int64, body []byte, secrets ...[]byte) string {
	sigs := make([]string, 0, len(secrets))
	for _, secret := range secrets {
		mac := hmac.New(sha256.New, secret)
		fmt.Fprintf(mac, "%s.%d.", id, timestamp)
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " ")
}

// ShowSecret is a secret as its owner is given it: whsec_ and its base64.
func ShowSecret(secret []byte) string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(secret)
}

// Attempt is what one post came to.
type Attempt struct {
	// Status is the answer's HTTP status, 0 without an answer.
	Status int
	// Err says why the attempt failed; nil for a 2xx answer.
	Err error
	// Latency is the time to the end of the answer's headers.
	Latency time.Duration
}

// Poster posts deliveries. Its client dials only the addresses a URL may
// reach: a name that resolves to a loopback, link-local (cloud metadata),
// unspecified or multicast address is refused, so that an allowed name
// cannot be pointed inside the server's own machine; an allowed URL that
// names such an address itself (http://127.0.0.1:9000/) is the operator's
// choice and is dialled. Redirects are not followed.
type Poster struct {
	client   *http.Client
	resolver *net.Resolver
}

// NewPoster makes a Poster.
func NewPoster() *Poster {
	p := &Poster{resolver: net.DefaultResolver}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy: nil, // a proxy would hide where the post really goes
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			ip, err := p.checkedAddress(ctx, address)
			if err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, network, ip)
		},
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: Timeout,
		MaxIdleConnsPerHost:   64, // every webhook of a host at once (8 posts each), kept alive
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	p.client = &http.Client{
		Transport:     transport,
		Timeout:       Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p
}

// checkedAddress resolves address (host:port) to the IP to dial, refusing
// an address a name must not reach.
func (p *Poster) checkedAddress(ctx context.Context, address string) (string, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return "", err
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(ip, mustPort(port)).String(), nil // named by the URL itself, which the allow-list admitted
	}
	addrs, err := p.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return "", err
	}
	for _, ip := range addrs {
		if why := internal(ip.Unmap()); why != "" {
			return "", fmt.Errorf("%s resolves to %s, a %s address, which a webhook may reach only when the allowed URL names it", host, ip, why)
		}
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("%s resolves to no address", host)
	}
	return netip.AddrPortFrom(addrs[0].Unmap(), mustPort(port)).String(), nil
}

func mustPort(s string) uint16 {
	n, _ := strconv.ParseUint(s, 10, 16)
	return uint16(n)
}

// metadataAddresses are the cloud metadata services outside the
// link-local range: Alibaba Cloud's, and AWS's over IPv6.
var metadataAddresses = []netip.Addr{netip.MustParseAddr("100.100.100.200"), netip.MustParseAddr("fd00:ec2::254")}

// internal names the class of an address a name must not reach, or "".
func internal(ip netip.Addr) string {
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsMulticast():
		return "multicast"
	}
	for _, m := range metadataAddresses {
		if ip == m {
			return "cloud metadata"
		}
	}
	return ""
}

// Post posts body to url with the Standard Webhooks headers, signed with
// each secret.
func (p *Poster) Post(ctx context.Context, url, id string, at time.Time, body []byte, secrets ...[]byte) Attempt {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Attempt{Err: err}
	}
	ts := at.Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Banli-Webhooks/1")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(id, ts, body, secrets...))
	start := time.Now()
	resp, err := p.client.Do(req)
	latency := time.Since(start)
	if err != nil {
		return Attempt{Err: plainError(err), Latency: latency}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, MaxAnswerBytes))
	resp.Body.Close()
	a := Attempt{Status: resp.StatusCode, Latency: latency}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		a.Err = fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return a
}

// plainError drops net/http's "Post \"url\": " wrapping: the delivery log
// names the webhook already.
func plainError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("no answer within %s", Timeout)
		}
		return ue.Err
	}
	return err
}
