package simulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// Handler serves REST (/fapi), WebSocket (/private, /market, and the
// retired /ws and /stream routes that handshake but stay silent) and /admin.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	s.restRoutes(mux)
	s.adminRoutes(mux)
	mux.HandleFunc("/private/ws", s.handlePrivate)
	mux.HandleFunc("/private/ws/", s.handlePrivate)
	mux.HandleFunc("/private/stream", s.handlePrivate)
	mux.HandleFunc("/market/ws", s.handleMarket)
	mux.HandleFunc("/market/ws/", s.handleMarket)
	mux.HandleFunc("/market/stream", s.handleMarket)
	for _, p := range []string{"/ws", "/ws/", "/stream", "/public/", "/private/", "/market/"} {
		mux.HandleFunc(p, s.handleDead)
	}
	return mux
}

// handlePrivate binds a user-data connection to its listenKeys. Unknown or
// expired keys are accepted and never get a frame, as on Binance.
func (s *Simulator) handlePrivate(w http.ResponseWriter, r *http.Request) {
	c := &conn{kind: connUser, stream: r.URL.Path == "/private/stream"}
	subs := parseBindings(r.URL.RawQuery)
	if key, ok := strings.CutPrefix(r.URL.Path, "/private/ws/"); ok && key != "" {
		subs = append([]subscription{{key: key}}, subs...)
	}
	s.mu.Lock()
	for _, sub := range subs {
		b := binding{key: sub.key, acct: s.keyOwner(sub.key)}
		if len(sub.events) > 0 {
			b.events = make(map[string]bool)
			for _, e := range sub.events {
				b.events[e] = true
			}
		}
		c.bindings = append(c.bindings, b)
	}
	s.mu.Unlock()
	s.serveWS(w, r, c)
}

// handleMarket serves /market/ws/<stream>[/<stream>...] (raw) and
// /market/stream?streams=a/b (wrapped), and SUBSCRIBE on a bare /market/ws.
func (s *Simulator) handleMarket(w http.ResponseWriter, r *http.Request) {
	c := &conn{kind: connMark, stream: r.URL.Path == "/market/stream"}
	var names []string
	if rest, ok := strings.CutPrefix(r.URL.Path, "/market/ws/"); ok {
		names = strings.Split(rest, "/")
	} else if c.stream {
		names = strings.Split(r.URL.Query().Get("streams"), "/")
	}
	for _, n := range names {
		if every, ok := markStreamEvery(n); ok {
			c.markStream, c.markEvery = n, every
			break
		}
	}
	s.serveWS(w, r, c)
}

func (s *Simulator) handleDead(w http.ResponseWriter, r *http.Request) {
	if !isUpgrade(r) {
		http.NotFound(w, r)
		return
	}
	s.serveWS(w, r, &conn{kind: connDead})
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// subscription is one listenKey of a private URL and its event filter.
type subscription struct {
	key    string
	events []string
}

// parseBindings reads listenKey/events pairs from a raw query in order:
// "listenKey=k1&events=A/B&listenKey=k2". An events parameter applies to the
// listenKey before it (or the first one, if it comes first). Malformed
// parameters are skipped; it never fails.
func parseBindings(rawQuery string) []subscription {
	var subs []subscription
	var pending []string
	for _, part := range strings.Split(rawQuery, "&") {
		k, v, _ := strings.Cut(part, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil || val == "" {
			continue
		}
		switch key {
		case "listenKey":
			subs = append(subs, subscription{key: val, events: pending})
			pending = nil
		case "events":
			var evs []string
			for _, e := range strings.Split(val, "/") {
				if e != "" {
					evs = append(evs, e)
				}
			}
			if len(subs) == 0 {
				pending = append(pending, evs...)
			} else {
				last := &subs[len(subs)-1]
				last.events = append(last.events, evs...)
			}
		}
	}
	return subs
}

// clientMessage is a JSON request a client may send on a socket.
type clientMessage struct {
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
	ID     json.RawMessage   `json:"id"`
}

// decodeClientMessage parses a SUBSCRIBE-style request. Invalid JSON, a
// missing method or a non-numeric id is an error.
func decodeClientMessage(msg []byte) (clientMessage, error) {
	var m clientMessage
	if err := json.Unmarshal(msg, &m); err != nil {
		return clientMessage{}, err
	}
	if m.Method == "" {
		return clientMessage{}, errBadRequest
	}
	if len(m.ID) > 0 && string(m.ID) != "null" {
		var id uint64
		if err := json.Unmarshal(m.ID, &id); err != nil {
			return clientMessage{}, errBadRequest
		}
	}
	return m, nil
}

type wsError struct {
	Error struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"error"`
	ID json.RawMessage `json:"id"`
}

type wsResult struct {
	Result any             `json:"result"`
	ID     json.RawMessage `json:"id"`
}

// handleClientMessage answers SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS;
// on market connections they switch the mark price stream.
func (s *Simulator) handleClientMessage(c *conn, msg []byte) {
	m, err := decodeClientMessage(msg)
	if err != nil {
		var e wsError
		e.Error.Code, e.Error.Msg, e.ID = 2, "Invalid request", json.RawMessage("null")
		c.send(queued{data: mustJSON(e)})
		return
	}
	id := m.ID
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	var names []string
	for _, p := range m.Params {
		var n string
		if json.Unmarshal(p, &n) == nil {
			names = append(names, n)
		}
	}
	var result any
	s.mu.Lock()
	switch strings.ToUpper(m.Method) {
	case "SUBSCRIBE":
		for _, n := range names {
			if every, ok := markStreamEvery(n); ok && c.kind == connMark {
				c.markStream, c.markEvery = n, every
			}
		}
	case "UNSUBSCRIBE":
		for _, n := range names {
			if strings.EqualFold(n, c.markStream) {
				c.markStream = ""
			}
		}
	case "LIST_SUBSCRIPTIONS":
		list := []string{}
		if c.markStream != "" {
			list = append(list, c.markStream)
		}
		result = list
	}
	s.mu.Unlock()
	c.send(queued{data: mustJSON(wsResult{Result: result, ID: id})})
}
