package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode"
)

// The probe side of /readyz: what `kraite healthcheck` runs inside a
// container whose image has no shell and no curl (distroless), as the
// container engine's healthcheck of every box.

// maxProbeBody is how much of a probed body is read and reported: /readyz
// lists one line per check, far below this; anything longer is cut.
const maxProbeBody = 4 << 10

// maxProbeURL bounds a probe URL and a listen address: a host name is at
// most 253 bytes, and a longer value would only come back whole in the
// error.
const maxProbeURL = 2 << 10

// ReadyURL is the /readyz URL of the ops server listening on addr (the
// process's KRAITE_HTTP_ADDR, host:port): a wildcard or empty host
// (0.0.0.0, ::, "") is probed on the loopback address, since the probe runs
// next to the server.
func ReadyURL(addr string) (string, error) {
	if len(addr) > maxProbeURL {
		return "", fmt.Errorf("listen address of %d bytes", len(addr))
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		// net.AddrError repeats the address unquoted: only its reason.
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err)
		}
		return "", fmt.Errorf("listen address %q: %w", addr, err)
	}
	if port == "" || strings.IndexFunc(port, func(r rune) bool { return !unicode.IsDigit(r) }) >= 0 {
		return "", fmt.Errorf("listen address %q: port %q is not a number", addr, port)
	}
	switch ip := net.ParseIP(host); {
	case host == "":
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		if ip.To4() != nil {
			host = "127.0.0.1"
		} else {
			host = "::1"
		}
	}
	hp := net.JoinHostPort(host, port)
	raw := "http://" + hp + "/readyz"
	// The host must be a host: nothing that makes the URL mean something
	// else (user@host, a path, a query).
	if u, err := url.Parse(raw); err != nil || u.User != nil || u.Host != hp || u.Path != "/readyz" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("listen address %q: %q is not a host name or address", addr, host)
	}
	return raw, nil
}

// CheckProbeURL refuses what a healthcheck must not probe: anything but an
// absolute http or https URL with a host. Its errors never repeat the URL:
// a refused one may carry a password (ftp://user:secret@host, or one that
// does not even parse), and url.Parse's own error quotes it whole.
func CheckProbeURL(raw string) error {
	if len(raw) > maxProbeURL {
		return fmt.Errorf("probe URL of %d bytes", len(raw))
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("probe URL: %w", err)
	}
	if u.User != nil {
		return errors.New("probe URL: credentials in the URL are not accepted")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("probe URL: scheme %q: must be http or https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("probe URL: no host")
	}
	return nil
}

// Probe GETs rawURL once and reports whether the endpoint is ready: nil on
// a 2xx answer, otherwise an error that says why (the connection error, or
// the status and the body, which for /readyz names every failing check).
// Redirects are not followed (a redirect is not ready). body is the first
// 4 KiB of the answer, control characters replaced, for the engine's
// healthcheck log. The deadline is ctx's.
func Probe(ctx context.Context, rawURL string) (body string, err error) {
	if err := CheckProbeURL(rawURL); err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", fmt.Errorf("probe URL: %w", err)
	}
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("%s: not reachable: %w", rawURL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody+1))
	cut := len(raw) > maxProbeBody
	if cut {
		raw = raw[:maxProbeBody]
	}
	body = printable(string(raw))
	if cut {
		body += "\n[... cut at 4 KiB]"
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return body, fmt.Errorf("%s: %s\n%s", rawURL, resp.Status, strings.TrimRight(body, "\n"))
	}
	if err != nil {
		return body, fmt.Errorf("%s: reading the answer: %w", rawURL, err)
	}
	return body, nil
}

// printable keeps newlines and tabs and replaces every other control
// character (and invalid UTF-8) so a hostile body cannot drive a terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == unicode.ReplacementChar || unicode.IsControl(r):
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}
