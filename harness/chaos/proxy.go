package chaos

import (
	"github.com/kraite/stream/harness/tcpproxy"
)

// Proxy is the TCP proxy the pipeline reaches the database through, so a
// database outage is a proxy cut (tcpproxy.Proxy).
type Proxy = tcpproxy.Proxy

// StartProxy listens on 127.0.0.1 (a free port) and forwards every
// connection to target (host:port).
func StartProxy(target string) (*Proxy, error) { return tcpproxy.StartProxy(target) }
