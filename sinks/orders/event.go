package orders

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kraite/stream/internal/orderstatus"
	"github.com/kraite/stream/internal/validate"
	"github.com/kraite/stream/sinks/internal/consume"
	"github.com/kraite/stream/topics"
)

// Version is what "newer" means for a row: event time E, then transaction
// time T, then status rank.
type Version struct {
	E, T int64
	Rank int
}

// VersionOf returns e's version.
func VersionOf(e *topics.OrderEvent) Version {
	return Version{e.EventTime, e.TransactionTime, orderstatus.Rank(orderstatus.KindOf(e), e.Status)}
}

// Moves reports whether an event at version v moves a row stored at
// version than: it must be newer and must not lower the status rank. A
// status never goes back on the exchange (NEW, PARTIALLY_FILLED, then a
// final one; an algo order NEW, TRIGGERING, TRIGGERED, then a final one),
// but frames can carry E out of that order: a backfill frame read from REST
// is stamped with the order's update time T, while the stream's frame of an
// earlier partial fill carries an E a few ms after its own T, which can be
// later. Without the rank rule that late partial fill would move a FILLED
// row back to PARTIALLY_FILLED (and the stream's FILLED would then record
// the final transition twice).
func (v Version) Moves(than Version) bool {
	return v.Rank >= than.Rank && v.Newer(than)
}

// Newer reports whether v is after than in (E, T, rank) order.
func (v Version) Newer(than Version) bool {
	if v.E != than.E {
		return v.E > than.E
	}
	if v.T != than.T {
		return v.T > than.T
	}
	return v.Rank > than.Rank
}

// Decode is DecodeAt with this process's clock and topics.DefaultMaxAhead.
func Decode(value []byte) (*topics.OrderEvent, error) {
	return DecodeAt(value, time.Now(), topics.DefaultMaxAhead)
}

// DecodeAt reads an orders-topic value and validates every field before it
// can change state (DESIGN.md section 5, "Fail closed"; issue 10 item 8: a
// fill of "1e999999" once made every later refold of its position fail). It
// never panics; an invalid event is an error naming every bad field
// (quarantined by the sink, never written):
//
//   - key: a known exchange, an account name (validate.Name), a positive
//     order or algo id (ids beyond int64 fail JSON decoding already);
//   - symbol (validate.Symbol); status, execution type, order type, time in
//     force and commission asset are exchange words (validate.Token); side
//     is BUY or SELL, position side BOTH, LONG or SHORT, source stream or
//     backfill (each may be absent);
//   - prices (price, avg price, stop price, last price) plain decimals >= 0
//     (Binance sends "0" for a market order's price), quantities (orig, cum,
//     last qty) plain decimals >= 0, commission and realized profit plain
//     decimals of either sign, all within 18+18 digits and their VARCHAR(40)
//     columns: no NaN, no exponent, no negative fill;
//   - order, algo and trade ids >= 0, actual order id empty or a positive
//     int64;
//   - event time E positive and at most maxAhead ahead of now
//     (topics.CheckEventTime), transaction time T >= 0 and not ahead either.
func DecodeAt(value []byte, now time.Time, maxAhead time.Duration) (*topics.OrderEvent, error) {
	var e topics.OrderEvent
	if err := json.Unmarshal(value, &e); err != nil {
		return nil, fmt.Errorf("decoding order event: %w", err)
	}
	var problems []string
	check := func(field string, err error) {
		if err != nil {
			problems = append(problems, field+": "+err.Error())
		}
	}
	optional := func(field, v string, f func(string) error) {
		if v != "" {
			check(field, f(v))
		}
	}
	check("exchange", validate.Exchange(e.Exchange))
	check("account", validate.Name(e.Account, validate.AccountWidth))
	check("symbol", validate.Symbol(e.Symbol))
	check("status", validate.Token(e.Status, 32))
	if k := orderstatus.KeyOf(&e); k.ID <= 0 {
		problems = append(problems, fmt.Sprintf("%s id %d is not positive", k.Kind, k.ID))
	}
	for _, id := range [...]struct {
		name string
		v    int64
	}{{"trade", e.TradeID}, {"order", e.OrderID}, {"algo", e.AlgoID}} {
		if id.v < 0 {
			problems = append(problems, fmt.Sprintf("%s id %d is negative", id.name, id.v))
		}
	}
	check("actual order id", validate.IDString(e.ActualOrderID))
	optional("event", e.Event, func(v string) error { return validate.Token(v, 64) })
	optional("execution type", e.ExecutionType, func(v string) error { return validate.Token(v, 32) })
	optional("order type", e.OrderType, func(v string) error { return validate.Token(v, 32) })
	optional("time in force", e.TimeInForce, func(v string) error { return validate.Token(v, 16) })
	optional("commission asset", e.CommissionAsset, func(v string) error { return validate.Token(v, 16) })
	optional("side", e.Side, func(v string) error { return validate.OneOf(v, "BUY", "SELL") })
	optional("position side", e.PositionSide, func(v string) error { return validate.OneOf(v, "BOTH", "LONG", "SHORT") })
	optional("source", e.Source, func(v string) error { return validate.OneOf(v, topics.SourceStream, topics.SourceBackfill) })
	check("client order id", validate.Text(e.ClientOrderID, 64))
	for _, f := range [...]struct {
		name, v string
		check   func(string) error
	}{
		{"price", e.Price, validate.Price}, {"avg price", e.AvgPrice, validate.Price},
		{"stop price", e.StopPrice, validate.Price}, {"last price", e.LastPrice, validate.Price},
		{"orig qty", e.OrigQty, validate.Quantity}, {"cum qty", e.CumQty, validate.Quantity},
		{"last qty", e.LastQty, validate.Quantity},
		{"commission", e.Commission, validate.Signed}, {"realized profit", e.RealizedProfit, validate.Signed},
	} {
		optional(f.name, f.v, f.check)
	}
	check("event time", topics.CheckEventTime(e.EventTime, now, maxAhead))
	if e.TransactionTime != 0 {
		check("transaction time", topics.CheckEventTime(e.TransactionTime, now, maxAhead))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("decoding order event: %w", consume.Bad(errors.New(strings.Join(sortStrings(problems), "; "))))
	}
	sanitizeEvent(&e)
	return &e, nil
}

// sanitizeEvent clips the free text fields to their columns and makes them
// valid UTF-8, so a strange but decodable event is stored, not rejected.
func sanitizeEvent(e *topics.OrderEvent) {
	for _, f := range []struct {
		p *string
		n int
	}{
		{&e.ClientOrderID, 64}, {&e.Side, 8}, {&e.PositionSide, 8}, {&e.OrderType, 32}, {&e.TimeInForce, 16},
		{&e.Price, 40}, {&e.OrigQty, 40}, {&e.AvgPrice, 40}, {&e.StopPrice, 40}, {&e.CumQty, 40},
		{&e.LastQty, 40}, {&e.LastPrice, 40}, {&e.Commission, 40}, {&e.CommissionAsset, 16},
		{&e.RealizedProfit, 40}, {&e.ExecutionType, 32}, {&e.Source, 16}, {&e.ActualOrderID, 32},
	} {
		s := strings.ReplaceAll(strings.ToValidUTF8(*f.p, "\uFFFD"), "\x00", "\uFFFD")
		if utf8.RuneCountInString(s) > f.n {
			s = string([]rune(s)[:f.n])
		}
		*f.p = s
	}
}

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}
