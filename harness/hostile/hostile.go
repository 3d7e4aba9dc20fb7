// Package hostile is the catalogue of hostile records: single records that,
// produced to Kraite's own topics by anyone with write access (a bug, an
// operator's kcat, a compromised box), once stopped, crashed, corrupted or
// opened something (issue 10). The hostile-record suite (cmd/kraite's
// TestHostileRecords...) and the `hostile-records` fault of `kraite chaos`
// produce them into a running pipeline and check that every consumer
// quarantined or ignored each one and moved on.
//
// This is test harness, not production code: nothing in a box imports it.
package hostile

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/groupadmin"
	"github.com/kraite/stream/topics"
)

// Expect is what must become of a record.
type Expect int

const (
	// Quarantined: at least one consumer put it on the quarantine topic,
	// with a non-empty reason.
	Quarantined Expect = iota
	// Ignored: no consumer changed state because of it; it may or may not
	// be quarantined (an audit sink keeps every frame as it came).
	Ignored
)

// Record is one hostile record.
type Record struct {
	Name string
	// Item is the number of the issue-10 finding it reproduces (0: a shape
	// a fuzzer or a careful reader adds).
	Item    int
	Topic   topics.Spec
	Key     string
	Value   []byte
	Headers []kgo.RecordHeader
	// WrongPartition sends the record to a partition its key does not
	// hash to (the suite computes which).
	WrongPartition bool
	Expect         Expect
	// Reason, when set, must appear (case-insensitively) in the error of
	// at least one of its quarantine records.
	Reason string
}

// Produced is where a record landed.
type Produced struct {
	Record
	Partition int32
	Offset    int64
}

// Account is the account whose key the user-data records use by default
// (Catalogue); CatalogueFor takes another.
const Account = "acct-0001"

// farFuture is 2100-01-01, issue 10's E.
const farFuture = int64(4102444800000)

func frameHeaders(account string, now time.Time) []kgo.RecordHeader {
	return topics.FrameHeaders(topics.ExchangeBinance, account, "hostile", topics.KindFrame, topics.SourceStream, now)
}

func withHeader(hs []kgo.RecordHeader, key, value string) []kgo.RecordHeader {
	out := make([]kgo.RecordHeader, 0, len(hs))
	for _, h := range hs {
		if h.Key != key {
			out = append(out, h)
		}
	}
	return append(out, kgo.RecordHeader{Key: key, Value: []byte(value)})
}

// trade is an ORDER_TRADE_UPDATE TRADE frame of a filled MARKET order with
// the given cumulative and last quantities and average price, ids unique to n.
func trade(now time.Time, n int, z, l, ap string) []byte {
	ms := now.UnixMilli()
	return fmt.Appendf(nil, `{"e":"ORDER_TRADE_UPDATE","E":%d,"T":%d,"o":{"s":"BTCUSDT","c":"hostile-%d","S":"BUY","o":"MARKET","f":"GTC","q":"1.000","p":"0","ap":"%s","sp":"0","x":"TRADE","X":"FILLED","i":%d,"l":"%s","z":"%s","L":"%s","N":"USDT","n":"0.1","T":%d,"t":%d,"b":"0","a":"0","m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"MARKET","ps":"BOTH","cp":false,"rp":"0","pP":false,"si":0,"ss":0,"V":"NONE","pm":"NONE","gtd":0}}`,
		ms, ms, n, ap, 9_000_000_000+int64(n), l, z, ap, ms, 7_000_000_000+int64(n))
}

func markArray(e int64, symbol, p string) []byte {
	return fmt.Appendf(nil, `[{"e":"markPriceUpdate","E":%d,"s":"%s","p":"%s","i":"%s","P":"%s","r":"0.0001","T":%d}]`, e, symbol, p, p, p, e+3_600_000)
}

// Catalogue returns the hostile records, built around now, for Account.
func Catalogue(now time.Time) []Record { return CatalogueFor(Account, now) }

// CatalogueFor returns the hostile records with account as the key of the
// user-data records and intents.
func CatalogueFor(account string, now time.Time) []Record {
	ms := now.UnixMilli()
	h := frameHeaders(account, now)
	Account := account
	return []Record{
		{Name: "mark price from the year 2100", Item: 1, Topic: topics.MarkPrice, Key: topics.ExchangeBinance,
			Value: markArray(farFuture, "BTCUSDT", "1.00"), Expect: Quarantined, Reason: "ahead"},
		{Name: "200 KB invalid frame", Item: 2, Topic: topics.UserDataStream, Key: Account,
			Value: []byte(strings.Repeat("<", 200_000)), Headers: h, Expect: Quarantined},
		{Name: "received_at in the year 9999 with a bad zone", Item: 3, Topic: topics.UserDataStream, Key: Account,
			Value: trade(now, 1, "0.001", "0.001", "50000"), Headers: withHeader(h, topics.HeaderReceivedAt, "9999-12-31T23:59:59-23:59"),
			Expect: Quarantined},
		{Name: "account header of invalid UTF-8", Item: 3, Topic: topics.UserDataStream, Key: Account,
			Value: trade(now, 2, "0.001", "0.001", "50000"), Headers: withHeader(h, topics.HeaderAccount, "\xff\xfe\xfd"),
			Expect: Quarantined},
		{Name: "mark price of 19 integer digits", Item: 4, Topic: topics.MarkPrice, Key: topics.ExchangeBinance,
			Value: markArray(ms, "ETHUSDT", "1234567890123456789.5"), Expect: Quarantined},
		{Name: "mark price of zero", Item: 4, Topic: topics.MarkPrice, Key: topics.ExchangeBinance,
			Value: markArray(ms, "SOLUSDT", "0"), Expect: Quarantined},
		{Name: "garbage override", Item: 6, Topic: topics.RegimeOverrides, Key: "global",
			Value: []byte(`{"scope":"global","action":`), Expect: Quarantined},
		{Name: "garbage allowlist", Item: 7, Topic: topics.Allowlist, Key: topics.ExchangeBinance,
			Value: []byte(`not json`), Expect: Ignored},
		{Name: "fill of 1e999999", Item: 8, Topic: topics.UserDataStream, Key: Account,
			Value: trade(now, 3, "1e999999", "1e999999", "50000"), Headers: h, Expect: Quarantined},
		{Name: "fill of -3", Item: 8, Topic: topics.UserDataStream, Key: Account,
			Value: trade(now, 4, "-3", "-3", "50000"), Headers: h, Expect: Quarantined},
		{Name: "NaN quantity and price", Item: 8, Topic: topics.UserDataStream, Key: Account,
			Value: trade(now, 5, "NaN", "NaN", "NaN"), Headers: h, Expect: Quarantined},
		{Name: "intent backdated to 2020", Item: 9, Topic: topics.OpenIntents, Key: Account,
			Value:  fmt.Appendf(nil, `{"account":%q,"exchange":"binance","symbol":"BTCUSDT","side":"BUY","size":"0.001","client_id":"hostile-backdated","created_at":1583971200000}`, Account),
			Expect: Ignored},
		{Name: "record on the wrong partition for its key", Item: 10, Topic: topics.UserDataStream, Key: Account,
			Value: trade(now, 6, "0.001", "0.001", "50000"), Headers: h, WrongPartition: true, Expect: Quarantined, Reason: "partition"},
		// Shapes beyond the list.
		{Name: "empty value", Topic: topics.UserDataStream, Key: Account, Value: []byte{}, Headers: h, Expect: Quarantined},
		{Name: "JSON null", Topic: topics.UserDataStream, Key: Account, Value: []byte(`null`), Headers: h, Expect: Quarantined},
		{Name: "100,000 nested arrays", Topic: topics.UserDataStream, Key: Account,
			Value: []byte(strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)), Headers: h, Expect: Quarantined},
		{Name: "order id beyond int64", Topic: topics.UserDataStream, Key: Account,
			Value:   []byte(strings.Replace(string(trade(now, 7, "0.001", "0.001", "50000")), `"i":9000000007`, `"i":99999999999999999999999`, 1)),
			Headers: h, Expect: Quarantined},
		{Name: "mark-price array of garbage elements", Topic: topics.MarkPrice, Key: topics.ExchangeBinance,
			Value: []byte(`[{"e":"markPriceUpdate"},1,"x",null,[]]`), Expect: Quarantined},
		{Name: "regime change of an absurd score and band", Topic: topics.RegimeChanges, Key: topics.ExchangeBinance,
			Value:  fmt.Appendf(nil, `{"scope":"binance","from_band":"Calm","to_band":"Apocalypse","score":1e300,"at":%d}`, ms),
			Expect: Quarantined},
		{Name: "intent of invalid JSON", Topic: topics.OpenIntents, Key: Account, Value: []byte(`{"account":`), Expect: Quarantined},
		{Name: "forged open_allowed of 1e9 BTC straight onto the positions queue", Topic: topics.Positions, Key: Account,
			Value:  fmt.Appendf(nil, `{"kind":"open_allowed","account":%q,"exchange":"binance","intent":{"account":%q,"exchange":"binance","symbol":"BTCUSDT","side":"BUY","size":"1000000000","client_id":"hostile-forged","created_at":%d},"at":%d}`, Account, Account, ms, ms),
			Expect: Ignored},
		{Name: "intent of 1e9 BTC", Topic: topics.OpenIntents, Key: Account,
			Value:  fmt.Appendf(nil, `{"account":%q,"exchange":"binance","symbol":"BTCUSDT","side":"BUY","size":"1e9","client_id":"hostile-1e9","created_at":%d}`, Account, ms),
			Expect: Ignored},
	}
}

// Produce writes records (Catalogue, or a part of it) under prefix with cl
// (a client with kgo.ManualPartitioner, so WrongPartition can be honoured),
// each to the partition its key hashes to with goka's partitioner unless
// WrongPartition, and returns where each landed.
func Produce(ctx context.Context, cl *kgo.Client, prefix string, records []Record) ([]Produced, error) {
	var out []Produced
	for _, r := range records {
		n := r.Topic.Partitions
		p := groupadmin.AccountPartition(nil, r.Topic.Name(prefix), r.Key, int(n))
		if r.WrongPartition {
			p = (p + 1) % n
		}
		rec := &kgo.Record{Topic: r.Topic.Name(prefix), Partition: p, Key: []byte(r.Key), Value: r.Value, Headers: r.Headers}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			return out, fmt.Errorf("producing hostile record %q: %w", r.Name, err)
		}
		out = append(out, Produced{Record: r, Partition: rec.Partition, Offset: rec.Offset})
	}
	return out, nil
}

// DataOnly drops the records of the control topics (allowlist, overrides):
// a garbage control record, by design, leaves the last good value or fails
// closed (shadow mode, gate blocked) when there was none, which a run that
// compares dispatched orders with the exchange must not mix in.
func DataOnly(recs []Record) []Record {
	var out []Record
	for _, r := range recs {
		if r.Topic.Suffix != topics.Allowlist.Suffix && r.Topic.Suffix != topics.RegimeOverrides.Suffix {
			out = append(out, r)
		}
	}
	return out
}

// Consumers are the groups that read the topics the catalogue writes.
func Consumers() []topics.GroupSpec {
	return []topics.GroupSpec{topics.GroupDispatch, topics.GroupRegime, topics.GroupGate,
		topics.GroupSinkAudit, topics.GroupSinkMarkPrice, topics.WorkerGroup(topics.Positions), topics.GroupSinkRegimeHistory}
}

// Behind names the (group, record) pairs whose group has not committed past
// the record yet; empty when every consumer moved on.
func Behind(ctx context.Context, adm *kadm.Client, prefix string, produced []Produced) ([]string, error) {
	var behind []string
	for _, g := range Consumers() {
		for _, in := range g.Inputs {
			offs, err := adm.FetchOffsetsForTopics(ctx, g.Name(prefix), in.Name(prefix))
			if err != nil {
				return nil, fmt.Errorf("fetching the commits of %s: %w", g.Name(prefix), err)
			}
			for _, p := range produced {
				if p.Topic.Suffix != in.Suffix {
					continue
				}
				if o, ok := offs.Lookup(in.Name(prefix), p.Partition); !ok || o.At <= p.Offset {
					behind = append(behind, g.Name(prefix)+" before "+p.Name)
				}
			}
		}
	}
	return behind, nil
}

// NotQuarantined names the produced records that must be quarantined and
// are not among the quarantine records recs (or lack the required reason).
func NotQuarantined(recs []*kgo.Record, prefix string, produced []Produced) []string {
	type at struct {
		topic string
		p     int32
		o     int64
	}
	errs := map[at][]string{}
	for _, r := range recs {
		var q topics.QuarantineRecord
		if json.Unmarshal(r.Value, &q) != nil || strings.TrimSpace(q.Error) == "" {
			continue
		}
		k := at{q.SourceTopic, q.SourcePartition, q.SourceOffset}
		errs[k] = append(errs[k], q.Consumer+": "+q.Error)
	}
	var missing []string
	for _, p := range produced {
		if p.Expect != Quarantined {
			continue
		}
		es := errs[at{p.Topic.Name(prefix), p.Partition, p.Offset}]
		ok := false
		for _, e := range es {
			if p.Reason == "" || strings.Contains(strings.ToLower(e), strings.ToLower(p.Reason)) {
				ok = true
			}
		}
		if !ok {
			missing = append(missing, fmt.Sprintf("%s (quarantined as %q)", p.Name, es))
		}
	}
	return missing
}
