package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// WeightProxy serves the exchange's REST API to one component as if from
// its own IP address. In production the user-data producer (athena) does not
// share an IP, and so a request-weight budget, with the order-sync workers
// (eos, iris, nyx, tyche); the simulator counts the weight of every caller
// in one window, and a time-compressed run sweeps a hundred times more often
// than production, so without this the producer would find the shared
// budget spent and wait up to a minute before it may re-create a listenKey.
// The proxy drops the X-MBX-USED-WEIGHT headers, which report the IP's
// weight, so the client behind it counts on its own calls only (a handful a
// minute). Everything else passes unchanged: 429 and 418 answers included.
type WeightProxy struct {
	srv *http.Server
	ln  net.Listener
	tr  *http.Transport
}

// StartWeightProxy listens on a free loopback port and forwards to target
// (an http:// base URL).
func StartWeightProxy(target string) (*WeightProxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("weight proxy target %q is not a URL", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the weight proxy: %w", err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	// Upstream idle connections are dropped before the exchange's server
	// drops them (the simulator after 10 s), so no request races a close.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.IdleConnTimeout = 5 * time.Second
	rp.Transport = tr
	rp.ModifyResponse = func(resp *http.Response) error {
		for k := range resp.Header {
			if strings.HasPrefix(strings.ToUpper(k), "X-MBX-USED-WEIGHT") {
				resp.Header.Del(k)
			}
		}
		return nil
	}
	// Idle connections outlive the client's (90 s in net/http), so the
	// client never sends on a connection the proxy is closing.
	p := &WeightProxy{srv: &http.Server{Handler: rp, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 3 * time.Minute}, ln: ln, tr: tr}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL is the proxy's base URL.
func (p *WeightProxy) URL() string { return "http://" + p.ln.Addr().String() }

// Close stops the proxy.
func (p *WeightProxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer p.tr.CloseIdleConnections()
	if err := p.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stopping the weight proxy: %w", err)
	}
	return nil
}
