package marketjobs

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/topics"
)

// docsKlines is the example answer of Binance's GET /fapi/v1/klines docs.
const docsKlines = `[[1499040000000,"0.01634790","0.80000000","0.01575800","0.01577100","148976.11427815",1499644799999,"2434.19055334",308,"1756.87402397","28.46694368","17928899.62484339"]]`

// docsBalances is the example answer of Binance's GET /fapi/v2/balance docs.
const docsBalances = `[{"accountAlias":"SgsR","asset":"USDT","balance":"122607.35137903","crossWalletBalance":"23.72469206","crossUnPnl":"0.00000000","availableBalance":"23.72469206","maxWithdrawAmount":"23.72469206","marginAvailable":true,"updateTime":1617939110373}]`

func TestParseKlines(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []Kline
		wantErr string
	}{
		{name: "the documented answer decodes its first seven fields", body: docsKlines, want: []Kline{{
			OpenTime: 1499040000000, Open: "0.01634790", High: "0.80000000", Low: "0.01575800",
			Close: "0.01577100", Volume: "148976.11427815", CloseTime: 1499644799999}}},
		{name: "an empty array is no klines", body: `[]`, want: []Kline{}},
		{name: "a row with six fields is refused", body: `[[1,"1","1","1","1","1"]]`, wantErr: "at least 7"},
		{name: "a price given as a number is refused", body: `[[1,1.5,"1","1","1","1",2]]`, wantErr: "field 1"},
		{name: "an exponent price is refused", body: `[[1,"1e5","1","1","1","1",2]]`, wantErr: "unexpected"},
		{name: "a negative price is refused", body: `[[1,"-1","1","1","1","1",2]]`, wantErr: "negative"},
		{name: "a close time before the open time is refused", body: `[[5,"1","1","1","1","1",4]]`, wantErr: "not after"},
		{name: "an object is refused", body: `{"code":-1121}`, wantErr: "decoding klines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKlines([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestClosedKlinesDropsTheFormingOne(t *testing.T) {
	now := time.UnixMilli(180_000 + 30_000)
	ks := []Kline{{OpenTime: 60_000, CloseTime: 119_999}, {OpenTime: 120_000, CloseTime: 179_999}, {OpenTime: 180_000, CloseTime: 239_999}}
	got := ClosedKlines(ks, now)
	if len(got) != 2 || got[1].OpenTime != 120_000 {
		t.Fatalf("got %+v, want the first two", got)
	}
	if got := ClosedKlines(ks, time.UnixMilli(239_999)); len(got) != 2 {
		t.Fatalf("a kline closing at now itself is still forming, got %d closed", len(got))
	}
}

func TestParseBalances(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []Balance
		wantErr string
	}{
		{name: "the documented answer keeps the balance and available balance", body: docsBalances,
			want: []Balance{{Asset: "USDT", WalletBalance: "122607.35137903", AvailableBalance: "23.72469206"}}},
		{name: "a negative balance is kept", body: `[{"asset":"USDT","balance":"-1.5","availableBalance":"0"}]`,
			want: []Balance{{Asset: "USDT", WalletBalance: "-1.5", AvailableBalance: "0"}}},
		{name: "a missing available balance is stored empty", body: `[{"asset":"BNB","balance":"2"}]`,
			want: []Balance{{Asset: "BNB", WalletBalance: "2"}}},
		{name: "a missing balance is refused", body: `[{"asset":"USDT"}]`, wantErr: "no balance"},
		{name: "an empty asset is refused", body: `[{"asset":"","balance":"1"}]`, wantErr: "asset"},
		{name: "a repeated asset is refused", body: `[{"asset":"X","balance":"1"},{"asset":"X","balance":"1"}]`, wantErr: "repeated"},
		{name: "a balance that is not a decimal is refused", body: `[{"asset":"X","balance":"NaN"}]`, wantErr: "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBalances([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) || got[0] != tt.want[0] {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDepsValidateNamesTheBadFields(t *testing.T) {
	err := Deps{Interval: "7m", KlineLimit: 5000, Symbols: []string{""}}.Validate()
	for _, field := range []string{"rest:", "db:", "account:", "interval:", "kline limit:", "symbols:"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("error %v does not name %q", err, field)
		}
	}
	hs := Handlers(Deps{})
	if err := hs[JobKlineFetch](t.Context(), topics.Job{Type: JobKlineFetch}); err == nil || !strings.Contains(err.Error(), "rest:") {
		t.Errorf("a handler of invalid deps returned %v, want the validation error", err)
	}
}

func TestHandlersRefuseBadJobs(t *testing.T) {
	h := startSim(t)
	d := dbtest.SQLite(t)
	hs := Handlers(Deps{Rest: h.rest, DB: d, Account: h.creds, Now: func() time.Time { return t0 }})
	tests := []struct {
		name    string
		job     topics.Job
		wantErr string
	}{
		{name: "a payload that is not JSON fails", job: topics.Job{Type: JobKlineFetch, Payload: json.RawMessage(`{`)}, wantErr: "decoding kline-fetch payload"},
		{name: "an unknown interval fails", job: topics.Job{Type: JobIndicators, Payload: json.RawMessage(`{"interval":"7m"}`)}, wantErr: "invalid interval"},
		{name: "an unknown symbol fails with the exchange's error", job: topics.Job{Type: JobKlineFetch, Payload: json.RawMessage(`{"symbols":["NOPEUSDT"]}`)}, wantErr: "-1121"},
		{name: "a balance snapshot without an account fails", job: topics.Job{ID: "x", Type: JobBalanceSnapshot}, wantErr: "names no account"},
		{name: "an unknown account fails", job: topics.Job{Type: JobBalanceSnapshot, Account: "nobody"}, wantErr: "looking up credentials of nobody"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := hs[tt.job.Type](t.Context(), tt.job)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// simBody fetches a raw REST answer of the simulator, for fuzz seeds.
func simBody(tb testing.TB, h *simHarness, path string, q url.Values, signed bool) []byte {
	tb.Helper()
	if signed {
		a := h.sim.Accounts()[0]
		var raw json.RawMessage
		if err := h.rest.Signed(context.Background(), http.MethodGet, path, binanceapi.Credentials{APIKey: a.APIKey, APISecret: a.APISecret}, q, &raw); err != nil {
			tb.Fatalf("calling %s: %v", path, err)
		}
		return raw
	}
	resp, err := http.Get(h.url + path + "?" + q.Encode())
	if err != nil {
		tb.Fatalf("calling %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("reading %s: %v", path, err)
	}
	return b
}

func FuzzParseKlines(f *testing.F) {
	h := startSim(f)
	f.Add([]byte(docsKlines))
	for _, iv := range []string{"1m", "1h", "1d"} {
		f.Add(simBody(f, h, "/fapi/v1/klines", url.Values{"symbol": {"BTCUSDT"}, "interval": {iv}, "limit": {"3"}}, false))
	}
	f.Add([]byte(`[[1,"1","1","1","1","1",2]]`))
	f.Add([]byte(`{"code":-1121,"msg":"Invalid symbol."}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ks, err := ParseKlines(body)
		if err != nil {
			return
		}
		for _, k := range ks {
			if k.CloseTime <= k.OpenTime {
				t.Fatalf("accepted close time %d not after open %d", k.CloseTime, k.OpenTime)
			}
			for _, s := range []string{k.Open, k.High, k.Low, k.Close, k.Volume} {
				if err := checkDecimal(s); err != nil || s[0] == '-' {
					t.Fatalf("accepted price %q: %v", s, err)
				}
			}
		}
	})
}

func FuzzParseBalances(f *testing.F) {
	h := startSim(f)
	f.Add([]byte(docsBalances))
	f.Add(simBody(f, h, "/fapi/v2/balance", nil, true))
	f.Add(simBody(f, h, "/fapi/v3/balance", nil, true))
	f.Add([]byte(`[{"asset":"BNB","balance":"-0.1"}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		bs, err := ParseBalances(body)
		if err != nil {
			return
		}
		for _, b := range bs {
			if b.Asset == "" || len(b.Asset) > 16 || checkDecimal(b.WalletBalance) != nil {
				t.Fatalf("accepted %+v", b)
			}
			if b.AvailableBalance != "" && checkDecimal(b.AvailableBalance) != nil {
				t.Fatalf("accepted available balance of %+v", b)
			}
		}
	})
}
