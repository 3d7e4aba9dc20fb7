package statuspage

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

//go:embed page.html
var pageHTML string

// initialMarker is replaced by the snapshot at serving time, so the page
// renders at once, before its first poll.
const initialMarker = "/*INITIAL*/null"

// Mux is what the handlers are mounted on (an ops.Server or http.ServeMux).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Mount adds GET / (the page) and GET /status.json (the snapshot) to mux.
func (c *Collector) Mount(mux Mux) {
	mux.Handle("GET /{$}", http.HandlerFunc(c.servePage))
	mux.Handle("GET /status.json", http.HandlerFunc(c.serveJSON))
}

func (c *Collector) servePage(w http.ResponseWriter, _ *http.Request) {
	// encoding/json escapes <, > and & (and U+2028/9), so the snapshot is
	// safe inside the page's <script>.
	b, err := json.Marshal(c.Snapshot(time.Now()))
	if err != nil {
		http.Error(w, "encoding the status: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
	_, _ = w.Write([]byte(strings.Replace(pageHTML, initialMarker, string(b), 1)))
}

func (c *Collector) serveJSON(w http.ResponseWriter, _ *http.Request) {
	b, err := json.Marshal(c.Snapshot(time.Now()))
	if err != nil {
		http.Error(w, "encoding the status: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}
