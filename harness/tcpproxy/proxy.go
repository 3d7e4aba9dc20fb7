// Package tcpproxy is a TCP proxy for fault injection: Down cuts every
// connection and refuses new ones (a server restart, without touching the
// real server), and a delay per forwarded chunk stands in for distance.
package tcpproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Proxy is a TCP proxy in front of a database server. The pipeline connects
// through it, so Down stands in for a server restart (every connection cut,
// new ones refused) without touching the real server, which other tests may
// be using at the same time.
type Proxy struct {
	target string
	ln     net.Listener
	delay  time.Duration

	mu    sync.Mutex
	down  bool
	cut   int // connections cut by Down, in total
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// StartProxy listens on 127.0.0.1 (a free port) and forwards every
// connection to target (host:port).
func StartProxy(target string) (*Proxy, error) {
	return StartDelayedProxy(target, 0)
}

// StartDelayedProxy is StartProxy holding every chunk it forwards, in both
// directions, for delay: a server that far away (one way), so a statement
// pays two delays, as over a network link.
func StartDelayedProxy(target string, delay time.Duration) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the database proxy: %w", err)
	}
	p := &Proxy{target: target, ln: ln, delay: delay, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the server behind the proxy.
func (p *Proxy) Target() string { return p.target }

// Down cuts every connection and refuses new ones until Up. It returns how
// many client connections it cut.
func (p *Proxy) Down() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	n := len(p.conns) / 2 // each proxied connection is a pair
	p.cut += n
	for c := range p.conns {
		c.Close()
	}
	return n
}

// Up accepts connections again.
func (p *Proxy) Up() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// IsDown reports whether the proxy refuses connections.
func (p *Proxy) IsDown() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.down
}

// Cut is the number of client connections cut so far.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// Close stops listening, cuts every connection and waits for the copies.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.IsDown() {
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.down { // went down while dialing
			p.mu.Unlock()
			c.Close()
			up.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	if p.delay <= 0 {
		_, _ = io.Copy(dst, src)
	} else {
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				time.Sleep(p.delay)
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
	}
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}
