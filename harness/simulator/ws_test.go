package simulator

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/testkit"
)

func TestEveryConnectionOfAKeyGetsEveryEvent(t *testing.T) {
	h := start(t, Config{Now: fixedClock()})
	a := h.acct(0)
	key := h.listenKey(a)
	raw := h.dial("/private/ws?listenKey=" + key)
	path := h.dial("/private/ws/" + key)
	stream := h.dial("/private/stream?listenKey=" + key)
	filtered := h.dial("/private/ws?listenKey=" + key + "&events=ALGO_UPDATE")
	unknown := h.dial("/private/ws?listenKey=nosuchkey")
	legacy := h.dial("/ws/" + key)
	other := h.dial("/private/ws?listenKey=" + h.listenKey(h.acct(1)))
	h.connected(7)
	for range 200 {
		h.sim.Step(a.ID)
	}
	h.drained(a)
	// Written is not yet read: wait until every socket has read all the
	// simulator pushed (three full sockets plus the filtered one).
	var n int
	testkit.Eventually(t, 15*time.Second, "every socket to read everything pushed", func() bool {
		n = len(raw.got())
		return n > 0 && len(path.got()) == n && len(stream.got()) == n &&
			len(h.sim.PushedFrames(a.ID)) == 3*n+len(filtered.got())
	})
	for i, f := range raw.got() {
		if string(path.got()[i]) != string(f) {
			t.Fatalf("frame %d differs between two sockets of one key", i)
		}
		var w struct {
			Stream string          `json:"stream"`
			Data   json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(stream.got()[i], &w); err != nil || w.Stream != key || string(w.Data) != string(f) {
			t.Fatalf("stream frame %d is not {stream:key, data:frame}: %s", i, stream.got()[i])
		}
	}
	for _, f := range filtered.got() {
		if env, _ := binance.ParseEnvelope(f); env.Event != "ALGO_UPDATE" {
			t.Fatalf("events=ALGO_UPDATE socket got %s", env.Event)
		}
	}
	if len(filtered.got()) == 0 {
		t.Fatal("the filtered socket got nothing")
	}
	for name, c := range map[string]*client{"unknown key": unknown, "legacy /ws": legacy, "another account": other} {
		if len(c.got()) != 0 {
			t.Errorf("%s socket got %d frames, want none", name, len(c.got()))
		}
	}
	if len(h.sim.PushedFrames(a.ID)) != 4*n-n+len(filtered.got()) {
		t.Errorf("PushedFrames has %d frames, sockets read %d", len(h.sim.PushedFrames(a.ID)), 3*n+len(filtered.got()))
	}
}

func TestDropConnections(t *testing.T) {
	h := start(t, Config{})
	a := h.acct(0)
	c1 := h.dial("/private/ws?listenKey=" + h.listenKey(a))
	c2 := h.dial("/private/ws?listenKey=" + h.listenKey(a))
	keep := h.dial("/private/ws?listenKey=" + h.listenKey(h.acct(1)))
	mark := h.dial("/market/ws/!markPrice@arr@1s")
	h.connected(4)
	if n := h.sim.DropConnections(a.ID); n != 2 {
		t.Fatalf("dropped %d, want 2", n)
	}
	for _, c := range []*client{c1, c2} {
		testkit.Eventually(t, 15*time.Second, "the socket to fail", func() bool { return c.readErr() != nil })
		// gorilla reports a connection that ends without a close frame as 1006.
		var ce *websocket.CloseError
		if !errors.As(c.readErr(), &ce) || ce.Code != websocket.CloseAbnormalClosure {
			t.Fatalf("got %v; a drop must be abrupt (no close frame)", c.readErr())
		}
	}
	if n := h.sim.DropConnections(""); n != 1 {
		t.Fatalf("dropped %d mark price sockets, want 1", n)
	}
	testkit.Eventually(t, 15*time.Second, "the mark socket to fail", func() bool { return mark.readErr() != nil })
	if keep.readErr() != nil {
		t.Fatal("another account's socket was dropped")
	}
}

func TestSilence(t *testing.T) {
	h := start(t, Config{Now: fixedClock(), PingInterval: 10 * time.Millisecond})
	a := h.acct(0)
	key := h.listenKey(a)
	silent := h.dial("/private/ws?listenKey=" + key)
	pings := 0
	silent.ws.SetPingHandler(func(string) error { pings++; return nil })
	h.connected(1)
	h.sim.Silence(a.ID, 150*time.Millisecond)
	fresh := h.dial("/private/ws?listenKey=" + key)
	h.connected(2)
	h.sim.Step(a.ID)
	h.drained(a)
	testkit.Eventually(t, 15*time.Second, "the new socket to get the event", func() bool { return len(fresh.got()) > 0 })
	time.Sleep(50 * time.Millisecond)
	if len(silent.got()) != 0 || silent.readErr() != nil {
		t.Fatalf("silenced socket: %d frames, err %v; want open and quiet", len(silent.got()), silent.readErr())
	}
	time.Sleep(150 * time.Millisecond)
	h.sim.Step(a.ID)
	testkit.Eventually(t, 15*time.Second, "the socket to speak again after the silence", func() bool { return len(silent.got()) > 0 })
}

func TestExpireListenKeyFault(t *testing.T) {
	h := start(t, Config{Now: fixedClock()})
	a := h.acct(0)
	key := h.listenKey(a)
	c := h.dial("/private/ws?listenKey=" + key)
	h.connected(1)
	h.sim.ExpireListenKey(a.ID)
	h.sim.Step(a.ID)
	h.drained(a)
	testkit.Eventually(t, 15*time.Second, "listenKeyExpired", func() bool { return len(c.got()) == 1 })
	env, err := binance.ParseEnvelope(c.got()[0])
	if err != nil || env.Event != "listenKeyExpired" || env.ListenKey != key || !strings.Contains(string(c.got()[0]), `"E":"`) {
		t.Fatalf("expiry frame %s (%v)", c.got()[0], err)
	}
	if k := h.listenKey(a); k == key {
		t.Fatal("POST after expiry returned the expired key")
	}
}

func TestInjectMalformed(t *testing.T) {
	h := start(t, Config{})
	a := h.acct(0)
	stream := h.dial("/private/stream?listenKey=" + h.listenKey(a))
	h.connected(1)
	junk := []byte(`{"e":"ORDER_TRADE_UPDATE","E":`)
	h.sim.InjectMalformed(a.ID, junk)
	testkit.Eventually(t, 15*time.Second, "the junk frame", func() bool { return len(stream.got()) == 1 })
	if string(stream.got()[0]) != string(junk) {
		t.Fatalf("got %s, want the raw bytes unwrapped", stream.got()[0])
	}
	if _, err := binance.ParseEnvelope(stream.got()[0]); err == nil {
		t.Fatal("the malformed frame parses")
	}
	if p := h.sim.PushedFrames(a.ID); len(p) != 1 || string(p[0].Data) != string(junk) {
		t.Fatalf("PushedFrames: %+v", p)
	}
}

func TestLoseNext(t *testing.T) {
	h := start(t, Config{Now: fixedClock()})
	a := h.acct(0)
	c := h.dial("/private/ws?listenKey=" + h.listenKey(a))
	h.connected(1)
	h.sim.LoseNext(a.ID, 1)
	h.sim.Step(a.ID) // the first step of seed 1 places one order: one frame
	h.drained(a)
	if n := len(h.sim.Orders(a.ID)) + len(h.sim.AlgoOrders(a.ID)); n != 1 {
		t.Fatalf("the lost step left %d orders in the ground truth, want 1", n)
	}
	if n := len(h.sim.PushedFrames(a.ID)); n != 0 {
		t.Fatalf("%d frames pushed for a lost event", n)
	}
	h.sim.Step(a.ID)
	h.drained(a)
	testkit.Eventually(t, 15*time.Second, "the next event to be delivered", func() bool { return len(c.got()) > 0 })
}

func TestRateLimitFault(t *testing.T) {
	h := start(t, Config{})
	h.sim.RateLimit(2)
	for range 2 {
		status, _, m, _ := h.call("GET", "/fapi/v1/ping", "", nil)
		if status != 429 || m["code"] != -1003.0 {
			t.Fatalf("limited call: %d %v", status, m)
		}
	}
	if status, _, _, _ := h.call("GET", "/fapi/v1/ping", "", nil); status != 200 {
		t.Fatalf("after the fault: %d", status)
	}
}

func TestAdminFault(t *testing.T) {
	h := start(t, Config{})
	a := h.acct(0)
	post := func(body string) (int, map[string]any) {
		resp, err := h.srv.Client().Post(h.srv.URL+"/admin/fault", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if status, m := post(`{"fault":"rate-limit","n":1}`); status != 200 || m["fault"] != FaultRateLimit {
		t.Fatalf("rate limit: %d %v", status, m)
	}
	if status, _, _, _ := h.call("GET", "/fapi/v1/ping", "", nil); status != 429 {
		t.Fatalf("after admin rate limit: %d", status)
	}
	if status, _ := post(`{"fault":"step","account":"` + a.ID + `","n":5}`); status != 200 || len(h.sim.Orders(a.ID))+len(h.sim.AlgoOrders(a.ID)) == 0 {
		t.Fatalf("step: %d", status)
	}
	if status, _ := post(`{"fault":"silence","account":"acct-9999","duration":"1s"}`); status != 404 {
		t.Fatalf("unknown account: %d", status)
	}
	if status, _ := post(`{"fault":"explode"}`); status != 400 {
		t.Fatalf("unknown fault: %d", status)
	}
}

func TestUnansweredPingsDropTheClient(t *testing.T) {
	h := start(t, Config{PingInterval: 15 * time.Millisecond, PongTimeout: 60 * time.Millisecond})
	key := h.listenKey(h.acct(0))
	mute := h.dial("/private/ws?listenKey=" + key)
	mute.ws.SetPingHandler(func(string) error { return nil }) // never pong
	polite := h.dial("/private/ws?listenKey=" + key)          // the default handler pongs
	testkit.Eventually(t, 15*time.Second, "the mute client to be dropped", func() bool { return mute.readErr() != nil })
	time.Sleep(150 * time.Millisecond)
	if err := polite.readErr(); err != nil {
		t.Fatalf("a client that pongs was dropped: %v", err)
	}
}

func TestMaxConnAge(t *testing.T) {
	h := start(t, Config{MaxConnAge: 80 * time.Millisecond})
	c := h.dial("/market/ws/!markPrice@arr@1s")
	begin := time.Now()
	testkit.Eventually(t, 15*time.Second, "the age limit", func() bool { return c.readErr() != nil })
	if age := time.Since(begin); age < 70*time.Millisecond {
		t.Fatalf("closed after %v, before the age limit", age)
	}
	if !websocket.IsCloseError(c.readErr(), websocket.CloseNormalClosure) {
		t.Fatalf("want a normal close frame at the age limit, got %v", c.readErr())
	}
}

func TestMarkPriceStream(t *testing.T) {
	h := start(t, Config{MarkPriceInterval: 20 * time.Millisecond})
	raw := h.dial("/market/ws/!markPrice@arr@1s")
	wrapped := h.dial("/market/stream?streams=" + url.QueryEscape("!markPrice@arr@1s"))
	bare := h.dial("/market/ws")
	h.connected(3)
	if err := bare.ws.WriteMessage(websocket.TextMessage, []byte(`{"method":"SUBSCRIBE","params":["!markPrice@arr@1s"],"id":7}`)); err != nil {
		t.Fatal(err)
	}
	h.run()
	testkit.Eventually(t, 15*time.Second, "mark price frames", func() bool {
		return len(raw.got()) >= 3 && len(wrapped.got()) >= 3 && len(bare.got()) >= 3
	})
	if string(bare.got()[0]) != `{"result":null,"id":7}` {
		t.Fatalf("SUBSCRIBE answer: %s", bare.got()[0])
	}
	env, err := binance.ParseEnvelope(raw.got()[0])
	if err != nil || !env.Array || env.Count != 568 || env.Event != "markPriceUpdate" {
		t.Fatalf("raw frame: %+v %v", env, err)
	}
	var elems []map[string]any
	json.Unmarshal(raw.got()[0], &elems)
	for _, k := range []string{"e", "E", "s", "p", "i", "P", "r", "T"} {
		if _, ok := elems[0][k]; !ok || len(elems[0]) != 8 {
			t.Fatalf("element %v lacks %q or has extra keys", elems[0], k)
		}
	}
	if _, ok := elems[0]["p"].(string); !ok {
		t.Fatal("mark price is not a string")
	}
	env, err = binance.ParseEnvelope(wrapped.got()[0])
	if err != nil || env.Stream != "!markPrice@arr@1s" || env.Count != 568 {
		t.Fatalf("wrapped frame: %+v %v", env, err)
	}
	if h.sim.MarkPriceFramesPushed() < 6 {
		t.Fatalf("MarkPriceFramesPushed = %d", h.sim.MarkPriceFramesPushed())
	}
}

func TestCrashMovesTheMarketDown(t *testing.T) {
	clock := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	h := start(t, Config{Now: func() time.Time { return clock }})
	btc := h.sim.market.markOf("BTCUSDT")
	h.sim.Crash(20, time.Minute)
	clock = clock.Add(2 * time.Minute)
	h.sim.tickMarket()
	after := h.sim.market.markOf("BTCUSDT")
	if after > btc*0.85 {
		t.Fatalf("BTC went from %v to %v after a 20%% crash", btc, after)
	}
	down := 0
	for i := range h.sim.market.specs {
		if h.sim.market.mark(i) < h.sim.market.specs[i].BasePrice*0.9 {
			down++
		}
	}
	if down < 568*3/4 {
		t.Fatalf("only %d of 568 symbols fell", down)
	}
}

func TestSlowClientIsDropped(t *testing.T) {
	h := start(t, Config{MarkPriceInterval: time.Millisecond})
	ws, _, err := websocket.DefaultDialer.Dial(h.wsURL("/market/ws/!markPrice@arr@1s"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close() // never read: the server's queue must overflow
	h.connected(1)
	h.run()
	testkit.Eventually(t, 10*time.Second, "the slow client to be dropped", func() bool {
		h.sim.mu.Lock()
		defer h.sim.mu.Unlock()
		return len(h.sim.conns) == 0
	})
}

func TestRunDrivesLifecycles(t *testing.T) {
	h := start(t, Config{OrderInterval: 2 * time.Millisecond, MarkPriceInterval: 10 * time.Millisecond})
	a := h.acct(0)
	c := h.dial("/private/ws?listenKey=" + h.listenKey(a))
	h.run()
	testkit.Eventually(t, 15*time.Second, "lifecycle frames", func() bool { return len(c.got()) >= 20 })
	added := h.sim.AddAccount()
	if added.ID != "acct-0004" {
		t.Fatalf("added account %q", added.ID)
	}
	testkit.Eventually(t, 15*time.Second, "the added account to trade", func() bool {
		return len(h.sim.Orders(added.ID))+len(h.sim.AlgoOrders(added.ID)) > 0
	})
}
